//! Shared runtime of every Maitre service and the gateway.
//!
//! - [`config`]: `MAITRE_*` environment variables with embedded defaults.
//! - [`telemetry`]: JSON logs, OTLP traces, W3C trace context in and out of gRPC.
//! - [`audit`]: the audit trail, recorded in each change's transaction and listed per service.
//! - [`auth`]: JWT → [`auth::Caller`], role and store checks.
//! - [`error`]: the mapping of failures to `tonic::Status` with the field named.
//! - [`db`]: sea-orm connections (PostgreSQL schema per service, or SQLite) and migrations.
//! - [`coord`]: locks, counters, balances, windows, leases — Redis or in-process.
//! - [`eventlog`]: outbox, gap-free publishing, `Watch` streams, consumers with cursors.
//! - [`jobs`]: leased jobs — scheduled work one replica at a time does.
//! - [`ids`]: `string_id!`, typed ids over opaque strings.
//! - [`idempotency`]: stored responses for replayed `request_id`s.
//! - [`server`] and [`client`]: serving with health/reflection/shutdown; calling others.
//! - [`reflection`]: gRPC reflection over the whole descriptor set, dependencies included.
//! - [`request_text`]: no request's text may hold NUL (refused naming the field).
//! - [`visits`]: what a visit is (orders on one store-local day count once).

pub mod audit;
pub mod auth;
pub mod client;
pub mod config;
pub mod coord;
pub mod db;
pub mod error;
pub mod eventlog;
pub mod http;
pub mod idempotency;
pub mod ids;
pub mod jobs;
pub mod metrics;
pub mod page;
pub mod reflection;
pub mod request_bounds;
pub mod request_text;
pub mod runtime;
pub mod server;
pub mod telemetry;
/// Test backends and helpers, for this workspace's tests only (feature `testing`).
#[cfg(feature = "testing")]
pub mod testing;
pub mod ttl_map;
pub mod visits;
