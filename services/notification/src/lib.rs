//! Maitre notification service: a library (`serve`, api, domain, storage) under the thin `maitre serve notification`.

pub mod api;
pub mod domain;
pub mod storage;

use std::future::Future;

use maitre_kit::{
    config::Config,
    runtime::{Runtime, RuntimeError},
};
use maitre_proto::notification::v1::notification_service_server::NotificationServiceServer;
use tokio::net::TcpListener;
use tonic::service::Routes;

/// The fully qualified gRPC service name.
pub const SERVICE_NAME: &str = "maitre.notification.v1.NotificationService";

/// Runs the service on `listener` until `shutdown` resolves.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RuntimeError> {
    let runtime = Runtime::start::<storage::Migrator>(config).await?;
    let api = api::NotificationServiceApi::new(runtime.clone());
    let routes = Routes::new(NotificationServiceServer::with_interceptor(
        api,
        runtime.auth(),
    ));
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
