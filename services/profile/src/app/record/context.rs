//! What every step of recording an event shares: its context, its outcome, and the
//! values recording builds without writing (a new customer's `CustomerCreated`, its keys).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maitre_kit::eventlog::EventLog;
use maitre_proto::{
    events::v1::{CustomerCreated, EventScope, event::Payload},
    profile::v1::ContactEvent,
};

use crate::{
    app::classify::ClassContext,
    convert::event::EventInput,
    domain::{identity::IdentityKey, resolution::IdentityGuards},
    error::Error,
    storage::customers::CustomerRow,
};

/// One validated event to record (of a batch chunk or a group of `RecordEvent` calls).
pub struct Item<'a> {
    pub event: &'a ContactEvent,
    pub input: &'a EventInput,
    pub zone: Tz,
}

/// What became of one event of a group.
#[derive(Debug)]
pub enum ItemOutcome {
    /// Recorded now, or (per-event path) found recorded before with its first result.
    Recorded(Box<Recorded>),
    /// Recorded before the group; the first result was not read (`one::replayed`).
    Replayed,
    /// Refused for this event alone (bad keys, unknown named customer…); nothing written.
    Refused(Error),
}

/// The outcome of recording one event.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The stored event (the first one on a replay).
    pub event: ContactEvent,
    pub customer: CustomerRow,
    pub duplicate: bool,
    pub created: bool,
    pub merged_ids: Vec<String>,
    /// The customer's canonical keys and stores when known without another read (a new
    /// customer: what recording wrote; group commit reads a group's at once).
    pub keys: Option<(Vec<String>, Vec<String>)>,
}

/// What recording needs besides the event.
pub struct IngestContext<'a> {
    pub log: &'a EventLog,
    pub chain: &'a str,
    pub class: &'a ClassContext,
    pub guards: &'a IdentityGuards,
    /// The event's store's time zone (for `local_date`).
    pub store_zone: Tz,
    pub now: DateTime<Utc>,
}

/// `CustomerCreated` of a new customer.
pub fn customer_created(row: &CustomerRow) -> (EventScope, Payload) {
    (
        EventScope {
            customer_id: row.customer_id.clone(),
            store_id: row.home_store_id.clone(),
            manager_id: String::new(),
        },
        Payload::CustomerCreated(CustomerCreated {
            customer_id: row.customer_id.clone(),
            home_store_id: row.home_store_id.clone(),
        }),
    )
}

/// The canonical keys and store ids of a customer created with `keys` and `stores` (what
/// [`Recorded::keys`] holds), sorted and without repeats.
pub fn new_customer_keys(
    keys: impl Iterator<Item = IdentityKey>,
    stores: &[(String, String)],
) -> (Vec<String>, Vec<String>) {
    let mut keys: Vec<String> = keys.map(|k| k.canonical()).collect();
    keys.sort();
    keys.dedup();
    let mut stores: Vec<String> = stores.iter().map(|(_, s)| s.clone()).collect();
    stores.sort();
    stores.dedup();
    (keys, stores)
}
