//! The service's use cases over storage, coordination and the pure domain: the delivery
//! pipeline (enqueue, dispatch, settle), automations (fire, awaiting owners, queued actions),
//! campaigns, the daily scan's round, profile freshness and the business gauges. Depends on
//! `domain`, `storage` and `providers`, never on `api`, `events` or `jobs`.

pub mod actions;
pub mod automation;
pub mod business_metrics;
pub mod campaign;
pub mod daily_scan;
pub mod delivery;
pub mod freshness;
pub mod idle;
