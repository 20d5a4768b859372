//! Recording several validated events of one chain in one transaction: the locks of all
//! their identity keys in one statement, the independent events set-based (`bulk`), the
//! others one by one in the given order, each in a savepoint so one refused event writes
//! nothing and leaves the rest recorded. A batch import's chunk and a group of concurrent
//! `RecordEvent` calls (`group_commit`) both go through here.

use chrono::Utc;
use maitre_kit::eventlog::EventLog;
use sea_orm::{DatabaseConnection, TransactionTrait};

use super::{
    bulk::{self, Chunk},
    context::{IngestContext, Item, ItemOutcome},
    one::record as record_event,
};
use crate::app::{begin_write, classify::ClassContext, is_retryable, locks::lock_in_transaction};
use crate::{
    domain::resolution::IdentityGuards,
    error::{Error, Result},
};

/// Attempts of a group that met a retryable conflict (deadlock, unique race).
const ATTEMPTS: usize = 5;

/// What a group shares.
pub struct Group<'a> {
    pub db: &'a DatabaseConnection,
    pub log: &'a EventLog,
    pub chain: &'a str,
    pub class: &'a ClassContext,
    pub guards: &'a IdentityGuards,
}

/// An error that refuses one event rather than failing its whole group.
pub fn is_item_error(error: &Error) -> bool {
    matches!(
        error,
        Error::InvalidArgument { .. }
            | Error::FailedPrecondition { .. }
            | Error::NotFound { .. }
            | Error::PermissionDenied(_)
    ) || matches!(error, Error::Status(s) if s.code() == tonic::Code::PermissionDenied)
}

/// Records `items` in one transaction holding the locks `lock_names`; one outcome per
/// item, in order. An error fails the whole group and writes nothing.
pub async fn record_group(
    group: &Group<'_>,
    items: &[Item<'_>],
    lock_names: &[String],
) -> Result<Vec<ItemOutcome>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match attempt_group(group, items, lock_names).await {
            Err(e) if attempt < ATTEMPTS && is_retryable(&e) => continue,
            other => return other,
        }
    }
}

async fn attempt_group(
    group: &Group<'_>,
    items: &[Item<'_>],
    lock_names: &[String],
) -> Result<Vec<ItemOutcome>> {
    let txn = begin_write(group.db).await?;
    lock_in_transaction(&txn, lock_names).await?;
    let chunk = Chunk {
        log: group.log,
        chain: group.chain,
        class: group.class,
        guards: group.guards,
        now: Utc::now(),
    };
    let bulk = bulk::record_independent(&txn, &chunk, items).await?;
    let mut outcomes: Vec<Option<ItemOutcome>> = items.iter().map(|_| None).collect();
    for (pos, recorded) in bulk.recorded {
        outcomes[pos] = Some(ItemOutcome::Recorded(Box::new(recorded)));
    }
    for pos in bulk.replays {
        outcomes[pos] = Some(ItemOutcome::Replayed);
    }
    for pos in bulk.rest {
        let item = &items[pos];
        let ctx = IngestContext {
            log: group.log,
            chain: group.chain,
            class: group.class,
            guards: group.guards,
            store_zone: item.zone,
            now: Utc::now(),
        };
        let savepoint = txn.begin().await?;
        outcomes[pos] = Some(
            match record_event(&savepoint, &ctx, item.input, item.event).await {
                Ok(recorded) => {
                    savepoint.commit().await?;
                    ItemOutcome::Recorded(Box::new(recorded))
                }
                Err(e) if is_item_error(&e) => {
                    savepoint.rollback().await?;
                    ItemOutcome::Refused(e)
                }
                Err(e) => return Err(e),
            },
        );
    }
    txn.commit().await?;
    Ok(outcomes
        .into_iter()
        .map(|o| {
            // `record_independent` places every item in exactly one of its three lists.
            o.unwrap_or_else(|| {
                ItemOutcome::Refused(Error::Status(tonic::Status::internal(
                    "event left without an outcome",
                )))
            })
        })
        .collect())
}
