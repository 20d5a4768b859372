//! Maitre tagging service: a library (`serve`, api, domain, storage) under the thin `maitre serve tagging`.

pub mod api;
pub mod domain;
pub mod storage;

use std::future::Future;

use maitre_kit::{
    config::Config,
    runtime::{Runtime, RuntimeError},
};
use maitre_proto::tagging::v1::tagging_service_server::TaggingServiceServer;
use tokio::net::TcpListener;
use tonic::service::Routes;

/// The fully qualified gRPC service name.
pub const SERVICE_NAME: &str = "maitre.tagging.v1.TaggingService";

/// Runs the service on `listener` until `shutdown` resolves.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RuntimeError> {
    let runtime = Runtime::start::<storage::Migrator>(config).await?;
    let api = api::TaggingServiceApi::new(runtime.clone());
    let routes = Routes::new(TaggingServiceServer::with_interceptor(api, runtime.auth()));
    runtime
        .serve(&[SERVICE_NAME], routes, listener, shutdown)
        .await
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
