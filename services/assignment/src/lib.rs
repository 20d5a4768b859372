//! Maitre assignment service: a library (`serve`, api, domain, storage) under the thin `maitre serve assignment`.
//!
//! Layout: `api/` decodes, authorises and encodes; `engine/` runs the use cases over
//! `storage/` (SQL), coordination (`cache`, balances, locks) and the pure `domain/`.

pub mod api;
pub mod cache;
pub mod convert;
pub mod domain;
pub mod engine;
pub mod error;
pub mod explain;
mod followups;
pub mod storage;
pub mod time;
mod upstream;

use std::future::Future;

use maitre_kit::{
    config::Config,
    runtime::{Runtime, RuntimeError},
};
use maitre_proto::assignment::v1::assignment_service_server::AssignmentServiceServer;
use tokio::net::TcpListener;
use tonic::service::Routes;

/// The fully qualified gRPC service name.
pub const SERVICE_NAME: &str = "maitre.assignment.v1.AssignmentService";

/// How often one replica sweeps for value locks past their expiry (a lock expires by days,
/// so an hour late is on time).
pub const LOCK_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// How often a replica looks for lock reviews left running by a replica that stopped
/// (`engine::lock_review`; a running review's lease keeps the others off it).
pub const LOCK_REVIEW_RESUME_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs the service on `listener` until `shutdown` resolves.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RuntimeError> {
    let runtime = Runtime::start::<storage::Migrator>(config).await?;
    let engine = engine::Engine::new(runtime.clone());
    let (stop_consumer, consumer_stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = tokio::spawn(upstream::follow_profile(engine.clone(), async {
        let _ = consumer_stopped.await;
    }));
    let (stop_sweeps, sweeps_stopped) = tokio::sync::oneshot::channel::<()>();
    let sweeps = {
        let engine = engine.clone();
        tokio::spawn(async move {
            engine
                .run_lock_sweeps(LOCK_SWEEP_EVERY, async {
                    let _ = sweeps_stopped.await;
                })
                .await;
        })
    };
    // Lock reviews a crashed replica left running are resumed (each under its lease).
    let (stop_reviews, reviews_stopped) = tokio::sync::oneshot::channel::<()>();
    let reviews = tokio::spawn(
        engine
            .clone()
            .run_lock_reviews(LOCK_REVIEW_RESUME_EVERY, async {
                let _ = reviews_stopped.await;
            }),
    );
    let api = api::AssignmentServiceApi::new(engine);
    let routes = Routes::new(AssignmentServiceServer::with_interceptor(
        api,
        runtime.auth(),
    ));
    let result = runtime
        .serve(&[SERVICE_NAME], routes, listener, shutdown)
        .await;
    let _ = stop_consumer.send(());
    let _ = stop_sweeps.send(());
    let _ = stop_reviews.send(());
    let _ = consumer.await;
    let _ = sweeps.await;
    let _ = reviews.await;
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
