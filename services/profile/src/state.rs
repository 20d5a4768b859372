//! The service's dependencies, built once in `serve` and shared by the handlers (`api`):
//! the kit runtime (database, coordination, event log, auth), the owner decider, the event
//! limits, the policy caches and the group-commit queue of `RecordEvent`.

use std::sync::Arc;

use maitre_kit::{config::ServiceName, runtime::Runtime};

use crate::{
    app::{cache::Caches, record::GroupCommit},
    domain::event::EventLimits,
    owner::{GrpcOwnerDecider, OwnerDecider},
};

/// What every handler may use; built once per process.
pub struct AppState {
    pub runtime: Runtime,
    pub owner: Arc<dyn OwnerDecider>,
    pub limits: EventLimits,
    pub caches: Arc<Caches>,
    pub group_commit: Arc<GroupCommit>,
}

impl AppState {
    /// The state over `runtime`, asking `owner` for owners (assignment over gRPC when `None`).
    /// Starts the group-commit writers on the current Tokio runtime.
    pub fn build(runtime: Runtime, owner: Option<Arc<dyn OwnerDecider>>) -> Arc<Self> {
        let owner = owner.unwrap_or_else(|| {
            GrpcOwnerDecider::new(runtime.config.upstream(ServiceName::Assignment))
        });
        Arc::new(Self {
            group_commit: Arc::new(GroupCommit::start(
                runtime.db.clone(),
                runtime.events.clone(),
            )),
            caches: Arc::new(Caches::announcing(runtime.events.clone())),
            limits: EventLimits::default(),
            owner,
            runtime,
        })
    }
}
