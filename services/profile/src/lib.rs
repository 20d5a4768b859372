//! Maitre profile service: a library (`serve`, api, domain, storage) under the thin `maitre serve profile`.

/// Largest request message the service decodes: a `RecordEventsBatch` of 10,000 events with
/// order lines (the gateway's import body limit, `MAITRE_MAX_IMPORT_BODY_BYTES`, is in JSON).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

pub mod api;
pub mod convert;
pub mod domain;
pub mod error;
pub mod owner;
pub mod service;
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
    let api = match owner {
        Some(owner) => api::ProfileServiceApi::with_owner_decider(runtime.clone(), owner),
        None => api::ProfileServiceApi::new(runtime.clone()),
    };
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
    // Background jobs (each under its own leader lease) stop with the server.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let jobs = [
        tokio::spawn(service::classify::run_daily(
            runtime.db.clone(),
            runtime.coord.clone(),
            runtime.events.clone(),
            until_stopped(stopped.clone()),
        )),
        tokio::spawn(service::reminders::run(
            runtime.db.clone(),
            runtime.coord.clone(),
            runtime.events.clone(),
            until_stopped(stopped.clone()),
        )),
        tokio::spawn({
            let runtime = runtime.clone();
            let stopped = until_stopped(stopped.clone());
            async move {
                maitre_kit::eventlog::follow(
                    &runtime,
                    service::owners::CONSUMER,
                    maitre_kit::config::ServiceName::Assignment,
                    Arc::new(service::owners::OwnerEvents),
                    stopped,
                )
                .await;
            }
        }),
        tokio::spawn({
            let runtime = runtime.clone();
            let stopped = until_stopped(stopped);
            async move {
                maitre_kit::eventlog::follow(
                    &runtime,
                    service::consent::CONSUMER,
                    maitre_kit::config::ServiceName::Notification,
                    Arc::new(service::consent::ConsentEvents {
                        log: runtime.events.clone(),
                    }),
                    stopped,
                )
                .await;
            }
        }),
    ];
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
