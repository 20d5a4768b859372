//! The service's own log, followed by every replica: each `TagAdded`/`TagRemoved` of any
//! replica updates this replica's loaded bitmaps (`storage::bitmaps`), so their answers
//! stay fresh between loads.

use std::sync::Arc;

use futures::StreamExt;
use maitre_kit::eventlog::EventLog;
use maitre_proto::events::v1::{Event, event::Payload};
use sea_orm::{DatabaseConnection, DbErr};

use crate::storage::bitmaps::Bitmaps;

/// Applies one event of the service's own log (any replica's change).
async fn apply_event(
    bitmaps: &Bitmaps,
    db: &DatabaseConnection,
    event: &Event,
) -> Result<(), DbErr> {
    let (customer_id, tag_id, added) = match &event.payload {
        Some(Payload::TagAdded(e)) => (&e.customer_id, &e.tag_id, true),
        Some(Payload::TagRemoved(e)) => (&e.customer_id, &e.tag_id, false),
        _ => return Ok(()),
    };
    bitmaps
        .apply_logged(db, &event.chain_id, customer_id, tag_id, added)
        .await
}

/// Follows the service's own log from `from_sequence` and applies every membership event
/// to the loaded chains, until the log closes (shutdown). Start it before the first chain
/// loads, from the sequence published then, so no change falls between snapshot and log.
pub async fn follow(
    bitmaps: Arc<Bitmaps>,
    log: Arc<EventLog>,
    db: DatabaseConnection,
    from_sequence: u64,
) {
    let mut cursor = from_sequence;
    loop {
        let mut stream = log.watch(cursor, None);
        let mut failed = false;
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => {
                    if let Err(e) = apply_event(&bitmaps, &db, &event).await {
                        tracing::warn!(error = %e, "applying a membership event to the bitmaps failed");
                    }
                    cursor = event.sequence;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading the tagging log failed; retrying");
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
