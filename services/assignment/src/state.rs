//! The service's dependencies, built once at start and shared by the handlers, the consumer
//! and the scheduled jobs: the kit runtime (config, database, coordination, event log,
//! auth) and the use cases over it.

use std::sync::Arc;

use maitre_kit::config::Config;
use maitre_kit::runtime::{Runtime, RuntimeError};

use crate::app::Engine;
use crate::storage;

pub struct State {
    pub runtime: Runtime,
    pub engine: Arc<Engine>,
}

impl State {
    /// Connects, migrates and builds the use cases.
    pub async fn build(config: Config) -> Result<Self, RuntimeError> {
        let runtime = Runtime::start::<storage::Migrator>(config).await?;
        let engine = Engine::new(runtime.clone());
        Ok(Self { runtime, engine })
    }
}
