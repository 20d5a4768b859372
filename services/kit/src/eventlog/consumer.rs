//! Consuming another service's log: the cursor is committed with the effect.
//!
//! A run of events is applied in one transaction that (1) locks and reads the cursor,
//! (2) skips the events the cursor is already past (a replay), (3) runs the handler on
//! each of the others in order, (4) advances the cursor to the last. A crash between any
//! two steps loses nothing and repeats nothing: the transaction happened whole or not at
//! all. A run is what the stream has ready, up to [`BATCH_EVENTS`]: one event at rest, a
//! few hundred while catching up after an import, so a backlog costs one commit per run
//! instead of one per event. A run that fails is retried one event at a time, so the
//! events before the failing one still apply and the error names the one that failed.

use std::{future::Future, sync::Arc, time::Duration};

use futures::{FutureExt, Stream, StreamExt};
use maitre_proto::events::v1::Event;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction};

use crate::db::{DbError, is_postgres, stmt};

/// Most events applied in one transaction.
pub const BATCH_EVENTS: usize = 256;

/// A handler failure; the event is retried after a back-off.
pub type ConsumeError = Box<dyn std::error::Error + Send + Sync>;

/// What a consumer does with each event, inside the cursor's transaction.
#[async_trait::async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// Applies one event. Must use `txn` for every write so it commits with the cursor.
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> Result<(), ConsumeError>;
}

/// The outcome of offering one event.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// The handler ran and the cursor advanced.
    Applied,
    /// The cursor was already at or past the event: nothing changed.
    Replay,
}

/// A named consumer with its cursor in `db` (e.g. `tagging<-profile`).
#[derive(Clone)]
pub struct Consumer {
    name: String,
    db: DatabaseConnection,
}

impl Consumer {
    /// A consumer named `name` keeping its cursor in `db` (which has the kit tables).
    pub fn new(name: impl Into<String>, db: DatabaseConnection) -> Self {
        Self {
            name: name.into(),
            db,
        }
    }

    /// The last applied sequence (0 before the first event).
    pub async fn cursor(&self) -> Result<u64, DbError> {
        let row = self
            .db
            .query_one_raw(stmt(
                &self.db,
                "SELECT position FROM kit_consumer_cursor WHERE consumer = $1",
                [self.name.clone().into()],
            ))
            .await?;
        Ok(row
            .and_then(|r| r.try_get_by_index::<i64>(0).ok())
            .unwrap_or(0) as u64)
    }

    /// Applies `event` exactly once.
    pub async fn apply(
        &self,
        event: &Event,
        handler: &dyn EventHandler,
    ) -> Result<Applied, ConsumeError> {
        let applied = self.apply_run(std::slice::from_ref(event), handler).await?;
        Ok(if applied == 0 {
            Applied::Replay
        } else {
            Applied::Applied
        })
    }

    /// Applies a run of consecutive events exactly once, in one transaction; returns how
    /// many were new (the rest were replays).
    pub async fn apply_run(
        &self,
        events: &[Event],
        handler: &dyn EventHandler,
    ) -> Result<usize, ConsumeError> {
        self.db
            .execute_raw(stmt(
                &self.db,
                "INSERT INTO kit_consumer_cursor (consumer, position, updated_at_us) VALUES ($1, 0, 0)
                 ON CONFLICT (consumer) DO NOTHING",
                [self.name.clone().into()],
            ))
            .await?;
        let txn = crate::db::begin_write(&self.db).await?;
        let lock = if is_postgres(&txn) { " FOR UPDATE" } else { "" };
        let row = txn
            .query_one_raw(stmt(
                &txn,
                &format!("SELECT position FROM kit_consumer_cursor WHERE consumer = $1{lock}"),
                [self.name.clone().into()],
            ))
            .await?;
        let cursor = row
            .and_then(|r| r.try_get_by_index::<i64>(0).ok())
            .unwrap_or(0) as u64;
        let mut position = cursor;
        for event in events {
            if event.sequence <= position {
                continue; // a replay
            }
            if event.sequence != position + 1 {
                txn.rollback().await?;
                return Err(format!(
                    "{}: gap in the stream: cursor {position}, got {}",
                    self.name, event.sequence
                )
                .into());
            }
            // An error drops `txn`, which rolls the whole run back.
            handler.handle(&txn, event).await?;
            position = event.sequence;
        }
        if position == cursor {
            txn.rollback().await?;
            return Ok(0);
        }
        txn.execute_raw(stmt(
            &txn,
            "UPDATE kit_consumer_cursor SET position = $1, updated_at_us = $2 WHERE consumer = $3",
            [
                (position as i64).into(),
                chrono::Utc::now().timestamp_micros().into(),
                self.name.clone().into(),
            ],
        ))
        .await?;
        txn.commit().await?;
        Ok((position - cursor) as usize)
    }

    /// Applies `run`; when it fails as a whole, one event at a time, so the events before
    /// a failing one still apply and the error is that event's own.
    async fn apply_or_isolate(
        &self,
        run: &[Event],
        handler: &dyn EventHandler,
    ) -> Result<(), ConsumeError> {
        match self.apply_run(run, handler).await {
            Ok(_) => Ok(()),
            Err(_) if run.len() > 1 => {
                for event in run {
                    self.apply(event, handler).await?;
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Follows a source until `shutdown`: `connect(from)` opens `Watch(from)`; on any
    /// error the consumer backs off and reconnects from its cursor.
    pub async fn run<C, F, S>(
        self,
        connect: C,
        handler: Arc<dyn EventHandler>,
        shutdown: impl Future<Output = ()>,
    ) where
        C: Fn(u64) -> F,
        F: Future<Output = Result<S, ConsumeError>>,
        S: Stream<Item = Result<Event, tonic::Status>> + Unpin,
    {
        tokio::pin!(shutdown);
        let mut backoff = Duration::from_millis(100);
        loop {
            let session = async {
                let from = self.cursor().await?;
                let mut stream = connect(from).await?;
                while let Some(item) = stream.next().await {
                    let mut run = vec![item?];
                    // Whatever else the stream has ready joins the run; nothing waits.
                    while run.len() < BATCH_EVENTS {
                        match stream.next().now_or_never() {
                            Some(Some(item)) => run.push(item?),
                            _ => break,
                        }
                    }
                    self.apply_or_isolate(&run, handler.as_ref()).await?;
                }
                Ok::<(), ConsumeError>(())
            };
            tokio::select! {
                _ = &mut shutdown => return,
                result = session => {
                    match result {
                        Ok(()) => backoff = Duration::from_millis(100),
                        Err(e) => tracing::warn!(consumer = %self.name, error = %e, "consumer interrupted; reconnecting"),
                    }
                }
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}
