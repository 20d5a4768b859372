//! Consuming another service's log: the cursor is committed with the effect.
//!
//! Each event is applied in one transaction that (1) locks and reads the cursor,
//! (2) skips the event if the cursor is already past it (a replay), (3) runs the
//! handler, (4) advances the cursor. A crash between any two steps loses nothing and
//! repeats nothing: the transaction either happened whole or not at all.

use std::{future::Future, sync::Arc, time::Duration};

use futures::{Stream, StreamExt};
use maitre_proto::events::v1::Event;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction};

use crate::db::{DbError, is_postgres, stmt};

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
        if event.sequence <= cursor {
            txn.rollback().await?;
            return Ok(Applied::Replay);
        }
        if event.sequence != cursor + 1 {
            txn.rollback().await?;
            return Err(format!(
                "{}: gap in the stream: cursor {cursor}, got {}",
                self.name, event.sequence
            )
            .into());
        }
        handler.handle(&txn, event).await?;
        txn.execute_raw(stmt(
            &txn,
            "UPDATE kit_consumer_cursor SET position = $1, updated_at_us = $2 WHERE consumer = $3",
            [
                (event.sequence as i64).into(),
                chrono::Utc::now().timestamp_micros().into(),
                self.name.clone().into(),
            ],
        ))
        .await?;
        txn.commit().await?;
        Ok(Applied::Applied)
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
                    let event = item?;
                    self.apply(&event, handler.as_ref()).await?;
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
