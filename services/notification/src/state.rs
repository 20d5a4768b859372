//! The service's dependencies, built once in `serve` and shared by the handlers (`api`), the
//! use cases (`app`), the consumers (`events`) and the scheduled work (`jobs`): the database,
//! coordination, the event log, and this replica's wake-ups. It names nothing else of the
//! crate, so every layer may hold it (the use cases take it as their context).

use std::sync::Arc;

use maitre_kit::{coord::Coordination, eventlog::EventLog};
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

/// The database, coordination, the event log and this replica's local wake-ups.
#[derive(Clone)]
pub struct State {
    pub db: DatabaseConnection,
    pub coord: Arc<dyn Coordination>,
    pub events: Arc<EventLog>,
    /// Wakes this replica's dispatcher after an enqueue (other replicas poll).
    pub wake: Arc<Notify>,
    /// Wakes this replica's inbox streams after an inbox item committed (other replicas poll).
    pub inbox: Arc<Notify>,
    /// Wakes this replica's daily scan when date automations change (other replicas poll).
    pub rescan: Arc<Notify>,
}

impl State {
    /// The state over the service's database, coordination and event log.
    pub fn new(
        db: DatabaseConnection,
        coord: Arc<dyn Coordination>,
        events: Arc<EventLog>,
    ) -> Self {
        Self {
            db,
            coord,
            events,
            wake: Arc::new(Notify::new()),
            inbox: Arc::new(Notify::new()),
            rescan: Arc::new(Notify::new()),
        }
    }

    /// Publishes committed events and wakes local inbox streams.
    pub fn inbox_committed(&self) {
        self.events.committed();
        self.inbox.notify_waiters();
        // An item forwarded to the staff provider is a queued message.
        self.wake.notify_one();
    }

    /// Wakes the local dispatcher after enqueued messages committed.
    pub fn enqueued(&self) {
        self.wake.notify_one();
    }
}
