//! Maitre profile service: a library (`serve`, api, domain, storage) under the thin `maitre serve profile`.
//!
//! The service skeleton (docs/ARCHITECTURE.md, "Where things live"): `state` (dependencies
//! built once), `api` (handlers), `app` (use cases), `domain` (pure rules), `storage`,
//! `events` (what it consumes; emitted payloads are built in `app`), `jobs` (leased loops).

/// Largest request message the service decodes: a `RecordEventsBatch` of 10,000 events with
/// order lines (the gateway's import body limit, `MAITRE_MAX_IMPORT_BODY_BYTES`, is in JSON).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

pub mod api;
pub mod app;
pub mod convert;
pub mod domain;
pub mod error;
pub mod events;
pub mod jobs;
pub mod owner;
pub mod state;
pub mod storage;

use std::{future::Future, sync::Arc};

use maitre_kit::{
    config::Config,
    runtime::{Runtime, RuntimeError},
};
use maitre_proto::profile::v1::{
    api_key_resolver_server::ApiKeyResolverServer, profile_service_server::ProfileServiceServer,
};
use tokio::net::TcpListener;

use crate::owner::OwnerDecider;
use tonic::service::Routes;

/// The fully qualified gRPC service name.
pub const SERVICE_NAME: &str = "maitre.profile.v1.ProfileService";

/// The gRPC name of the internal API key resolver (the gateway's; not routed to apps).
pub const RESOLVER_NAME: &str = "maitre.profile.v1.ApiKeyResolver";

/// Runs the service on `listener` until `shutdown` resolves.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RuntimeError> {
    serve_with(config, listener, shutdown, None).await
}

/// [`serve`] with another owner decider than the assignment service (tests use a fake).
pub async fn serve_with(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    owner: Option<Arc<dyn OwnerDecider>>,
) -> Result<(), RuntimeError> {
    let runtime = Runtime::start::<storage::Migrator>(config).await?;
    let api = api::ProfileServiceApi::new(state::AppState::build(runtime.clone(), owner));
    // A bulk import of the documented 10,000 events is larger than tonic's 4 MiB default.
    let server = ProfileServiceServer::new(api).max_decoding_message_size(MAX_REQUEST_BYTES);
    // The resolver has no interceptor: the secret it is asked about is the credential.
    let routes = Routes::new(tonic::service::interceptor::InterceptedService::new(
        server,
        runtime.auth(),
    ))
    .add_service(ApiKeyResolverServer::new(api::ApiKeyResolverApi::new(
        runtime.clone(),
    )));
    // Background jobs (each under its own leader lease) and consumers stop with the server.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = || {
        let mut rx = stopped.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let mut jobs = jobs::spawn_all(&runtime, until_stopped);
    jobs.extend(events::follow_all(&runtime, until_stopped));
    let result = runtime
        .serve(&[SERVICE_NAME, RESOLVER_NAME], routes, listener, shutdown)
        .await;
    let _ = stop.send(true);
    for job in jobs {
        let _ = job.await;
    }
    result
}

/// Brings the service's database schema up to date and returns (`maitre migrate`).
pub async fn migrate(config: &Config) -> Result<(), RuntimeError> {
    maitre_kit::db::connect_and_migrate::<storage::Migrator>(
        &config.database_url,
        &config.database_schema,
    )
    .await?;
    Ok(())
}
