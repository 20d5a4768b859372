//! Maitre tagging service: a library (`serve`, api, domain, storage) under the thin `maitre serve tagging`.
//!
//! Layout (the skeleton every service shares, docs/ARCHITECTURE.md "Where things live"):
//! `state.rs` builds the dependencies once; `api/` decodes, authorises, calls and encodes;
//! `app/` runs the use cases over `storage/` (SQL, and the per-replica caches) and the pure
//! `domain/`; `events.rs` (with `events/`) consumes profile's and notification's streams;
//! `jobs.rs` is the scheduled work.
//!
//! Besides the gRPC API, `serve` runs five background tasks: the profile consumer (live
//! tagging and live scores), the notification consumer (campaign responders), the follower
//! of the service's own log (keeps every replica's bitmaps fresh), and, under leader
//! leases, the daily schedule of time-driven rules and the daily refit of the models.

pub mod api;
pub mod app;
pub mod domain;
pub mod error;
pub mod events;
pub mod jobs;
pub mod state;
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
    let deps = state::Deps::new(runtime.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stop_signal = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    // The follower starts from the sequence published before any chain's bitmaps load.
    let from = storage::bitmaps::published_sequence(&runtime.db)
        .await
        .map_err(maitre_kit::db::DbError::from)?;
    tokio::spawn(events::own_log::follow(
        deps.bitmaps.clone(),
        runtime.events.clone(),
        runtime.db.clone(),
        from,
    ));
    tokio::spawn(events::consume_profile(deps.clone(), stop_signal()));
    tokio::spawn(events::campaigns::consume_notification(
        deps.clone(),
        stop_signal(),
    ));
    tokio::spawn(jobs::run_time_rules(
        deps.clone(),
        uuid::Uuid::new_v4().to_string(),
        stop_signal(),
    ));
    tokio::spawn(jobs::run_daily_refit(
        deps.clone(),
        uuid::Uuid::new_v4().to_string(),
        stop_signal(),
    ));
    let api = api::TaggingServiceApi::new(deps);
    let routes = Routes::new(TaggingServiceServer::with_interceptor(api, runtime.auth()));
    let shutdown = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
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
