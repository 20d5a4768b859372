//! Serving the log in order: `Watch(from_sequence)`.

use std::sync::Arc;

use maitre_proto::events::v1::Event;
use prost::Message;
use sea_orm::ConnectionTrait;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::EventLog;
use crate::{
    auth::Caller,
    db::{DbError, stmt},
};

/// Rows read per query.
const PAGE: i64 = 500;

/// A stream of events for a `Watch` response.
pub type EventStream = ReceiverStream<Result<Event, Status>>;

/// The boxed stream type of generated `Watch` handlers.
pub type BoxEventStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<Event, Status>> + Send>>;

/// Serves `Watch(from_sequence)` for `caller`: all chains for an all-chains service
/// identity; otherwise the caller's chain, and for store-scoped roles only events about
/// their stores (or about no store).
pub fn watch_for(
    log: &Arc<EventLog>,
    caller: &Caller,
    from_sequence: u64,
) -> Result<BoxEventStream, Status> {
    use futures::StreamExt;
    let chain = if caller.is_all_chains() {
        None
    } else {
        Some(caller.chain()?.to_owned())
    };
    let stream = log.watch(from_sequence, chain);
    if caller.role.is_chain_wide() {
        return Ok(Box::pin(stream));
    }
    let caller = caller.clone();
    Ok(Box::pin(stream.filter(move |item| {
        let visible = match item {
            Ok(event) => {
                let store = event
                    .scope
                    .as_ref()
                    .map(|s| s.store_id.as_str())
                    .unwrap_or_default();
                store.is_empty() || caller.can_access_store(store)
            }
            Err(_) => true,
        };
        std::future::ready(visible)
    })))
}

impl EventLog {
    /// Events with sequence > `from_sequence`, in order, then live; only `chain` when given.
    pub fn watch(self: &Arc<Self>, from_sequence: u64, chain: Option<String>) -> EventStream {
        let (tx, rx) = mpsc::channel(256);
        let log = Arc::clone(self);
        tokio::spawn(async move {
            let mut cursor = from_sequence;
            let mut published = log.published.subscribe();
            let mut closed = log.closed.subscribe();
            loop {
                let page = match log.read_after(cursor, chain.as_deref()).await {
                    Ok(page) => page,
                    Err(e) => {
                        let _ = tx.send(Err(crate::error::internal(e))).await;
                        return;
                    }
                };
                let full = page.len() as i64 == PAGE;
                for event in page {
                    cursor = event.sequence;
                    if tx.send(Ok(event)).await.is_err() {
                        return; // the client went away
                    }
                }
                if full {
                    continue;
                }
                if *closed.borrow() {
                    return;
                }
                tokio::select! {
                    _ = tx.closed() => return,
                    _ = closed.changed() => return,
                    _ = published.changed() => {}
                    // Woken by `published` (local publisher, other replicas' wake-ups);
                    // the safety poll only covers a wake-up that never came.
                    _ = tokio::time::sleep(log.safety_poll) => {}
                }
            }
        });
        ReceiverStream::new(rx)
    }

    /// Reads one page of published events after `cursor`.
    pub async fn read_after(
        &self,
        cursor: u64,
        chain: Option<&str>,
    ) -> Result<Vec<Event>, DbError> {
        let statement = match chain {
            Some(chain) => stmt(
                &self.db,
                "SELECT seq, payload FROM kit_outbox WHERE chain_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                [chain.into(), (cursor as i64).into(), PAGE.into()],
            ),
            None => stmt(
                &self.db,
                "SELECT seq, payload FROM kit_outbox WHERE seq > $1 ORDER BY seq LIMIT $2",
                [(cursor as i64).into(), PAGE.into()],
            ),
        };
        let rows = self.db.query_all_raw(statement).await?;
        rows.into_iter()
            .map(|row| {
                let seq: i64 = row.try_get_by_index(0)?;
                let payload: Vec<u8> = row.try_get_by_index(1)?;
                let mut event =
                    Event::decode(payload.as_slice()).map_err(|e| DbError::Corrupt {
                        what: format!("kit_outbox seq {seq}"),
                        reason: e.to_string(),
                    })?;
                event.sequence = seq as u64;
                Ok(event)
            })
            .collect()
    }
}
