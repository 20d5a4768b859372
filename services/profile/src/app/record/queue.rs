//! Group commit for `RecordEvent`: calls that arrive while earlier ones are being written
//! wait in a queue, and the next free writer records everything waiting (up to
//! [`MAX_GROUP`] events of a chain) in one transaction (`group::record_group`). Under load
//! a transaction then carries many events for the statements and the WAL flush it costs
//! one; a lone call is written at once, as before. Each caller still gets its own answer:
//! an event refused for itself (blocked keys, unknown named customer) is refused alone,
//! and a group whose transaction fails is retried one event at a time, so only the event
//! that caused it fails.

use std::{collections::HashSet, sync::Arc};

use chrono_tz::Tz;
use maitre_kit::eventlog::EventLog;
use maitre_proto::profile::v1::ContactEvent;
use sea_orm::DatabaseConnection;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{
    context::{Item, ItemOutcome},
    group::{Group, record_group},
};
use crate::app::classify::ClassContext;
use crate::{
    convert::event::EventInput,
    domain::{identity::IdentityKey, resolution::IdentityGuards},
    error::{Error, Result},
    storage::customer_stores,
};

/// Events one transaction records at most.
pub const MAX_GROUP: usize = 32;
/// Transactions in flight at once (each on its own pooled connection).
const WRITERS: usize = 4;
/// Calls waiting beyond these make callers wait to enqueue (back-pressure).
const QUEUE: usize = 1_024;

/// One validated event waiting to be recorded.
pub struct Pending {
    pub chain: String,
    pub class: Arc<ClassContext>,
    pub blocked: Arc<HashSet<IdentityKey>>,
    /// The locks recording it takes (`api::events::lock_names`).
    pub lock_names: Vec<String>,
    pub event: ContactEvent,
    pub input: EventInput,
    pub zone: Tz,
}

struct Waiting {
    pending: Pending,
    reply: oneshot::Sender<Result<ItemOutcome>>,
}

/// The queue in front of the writers; dropping it stops them once the queue is empty.
pub struct GroupCommit {
    queue: mpsc::Sender<Waiting>,
}

impl GroupCommit {
    /// Starts the writers on the current Tokio runtime.
    pub fn start(db: DatabaseConnection, log: Arc<EventLog>) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..WRITERS {
            tokio::spawn(write_groups(receiver.clone(), db.clone(), log.clone()));
        }
        Self { queue }
    }

    /// Records `pending` with whatever else is waiting; its outcome.
    pub async fn record(&self, pending: Pending) -> Result<ItemOutcome> {
        let (reply, answer) = oneshot::channel();
        let stopped = || Error::Status(tonic::Status::unavailable("profile is shutting down"));
        self.queue
            .send(Waiting { pending, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// One writer: takes everything waiting (up to a group), records it per chain, answers.
async fn write_groups(
    receiver: Arc<Mutex<mpsc::Receiver<Waiting>>>,
    db: DatabaseConnection,
    log: Arc<EventLog>,
) {
    loop {
        let mut taken = Vec::with_capacity(MAX_GROUP);
        {
            let mut receiver = receiver.lock().await;
            match receiver.recv().await {
                Some(first) => taken.push(first),
                None => return,
            }
            while taken.len() < MAX_GROUP {
                match receiver.try_recv() {
                    Ok(next) => taken.push(next),
                    Err(_) => break,
                }
            }
        }
        while !taken.is_empty() {
            let chain = taken[0].pending.chain.clone();
            let (same, others): (Vec<_>, Vec<_>) =
                taken.into_iter().partition(|w| w.pending.chain == chain);
            taken = others;
            write_chain_group(&db, &log, same).await;
        }
        log.committed();
    }
}

/// Records one chain's waiting events together; if the transaction fails, one at a time.
async fn write_chain_group(db: &DatabaseConnection, log: &EventLog, group: Vec<Waiting>) {
    match write(db, log, &group).await {
        Ok(mut outcomes) => {
            let chain = &group[0].pending.chain;
            fill_views(db, chain, &mut outcomes).await;
            for (waiting, outcome) in group.into_iter().zip(outcomes) {
                let _ = waiting.reply.send(Ok(outcome));
            }
        }
        Err(error) if group.len() == 1 => {
            if let Some(waiting) = group.into_iter().next() {
                let _ = waiting.reply.send(Err(error));
            }
        }
        Err(_) => {
            for waiting in group {
                let one = std::slice::from_ref(&waiting);
                let outcome = write(db, log, one).await.and_then(|mut o| {
                    o.pop().ok_or_else(|| {
                        Error::Status(tonic::Status::internal("event left without an outcome"))
                    })
                });
                let _ = waiting.reply.send(outcome);
            }
        }
    }
}

/// Reads, for every recorded event whose customer existed before, the customer's keys and
/// stores — what its answer shows — in one round trip for the group rather than one per
/// caller. Best effort: a caller left without them reads its own.
async fn fill_views(db: &DatabaseConnection, chain: &str, outcomes: &mut [ItemOutcome]) {
    let ids: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            ItemOutcome::Recorded(r) if r.keys.is_none() => Some(r.customer.customer_id.clone()),
            _ => None,
        })
        .collect();
    let Ok(found) = customer_stores::keys_and_stores_of(db, chain, &ids).await else {
        return;
    };
    for outcome in outcomes {
        if let ItemOutcome::Recorded(r) = outcome
            && r.keys.is_none()
            && let Some(view) = found.get(&r.customer.customer_id)
        {
            r.keys = Some(view.clone());
        }
    }
}

async fn write(
    db: &DatabaseConnection,
    log: &EventLog,
    group: &[Waiting],
) -> Result<Vec<ItemOutcome>> {
    let first = &group[0].pending;
    let guards = IdentityGuards {
        blocked_keys: first.blocked.clone(),
        ..IdentityGuards::default()
    };
    let items: Vec<Item<'_>> = group
        .iter()
        .map(|w| Item {
            event: &w.pending.event,
            input: &w.pending.input,
            zone: w.pending.zone,
        })
        .collect();
    let names: Vec<String> = group
        .iter()
        .flat_map(|w| w.pending.lock_names.iter().cloned())
        .collect();
    let context = Group {
        db,
        log,
        chain: &first.chain,
        class: &first.class,
        guards: &guards,
    };
    record_group(&context, &items, &names).await
}
