//! Maitre assignment service: a library (`serve`, api, domain, storage) under the thin `maitre serve assignment`.
//!
//! Layout (the skeleton every service shares, docs/ARCHITECTURE.md "Where things live"):
//! `state.rs` builds the dependencies once; `api/` decodes, authorises, calls and encodes;
//! `app/` runs the use cases over `storage/` (SQL, and the coordination-backed caches) and
//! the pure `domain/`; `events.rs` consumes profile's stream; `jobs.rs` is the scheduled
//! work.

pub mod api;
pub mod app;
pub mod convert;
pub mod domain;
pub mod error;
pub mod events;
mod followups;
pub mod jobs;
pub mod state;
pub mod storage;
pub mod time;

use std::future::Future;

use maitre_kit::{config::Config, runtime::RuntimeError};
use maitre_proto::assignment::v1::assignment_service_server::AssignmentServiceServer;
use tokio::net::TcpListener;
use tonic::service::Routes;

/// The fully qualified gRPC service name.
pub const SERVICE_NAME: &str = "maitre.assignment.v1.AssignmentService";

/// Runs the service on `listener` until `shutdown` resolves.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RuntimeError> {
    let state::State { runtime, engine } = state::State::build(config).await?;
    let (stop_consumer, consumer_stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = tokio::spawn(events::follow_profile(engine.clone(), async {
        let _ = consumer_stopped.await;
    }));
    let (stop_sweeps, sweeps_stopped) = tokio::sync::oneshot::channel::<()>();
    let sweeps = tokio::spawn(jobs::lock_sweeps(
        engine.clone(),
        jobs::LOCK_SWEEP_EVERY,
        async {
            let _ = sweeps_stopped.await;
        },
    ));
    // Lock reviews a crashed replica left running are resumed (each under its lease).
    let (stop_reviews, reviews_stopped) = tokio::sync::oneshot::channel::<()>();
    let reviews = tokio::spawn(jobs::lock_review_resumes(
        engine.clone(),
        jobs::LOCK_REVIEW_RESUME_EVERY,
        async {
            let _ = reviews_stopped.await;
        },
    ));
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
