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

use super::partition::{Fence, Partition};
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

    /// Told of a run of consecutive events read from the stream, before any of them is applied
    /// (each then reaches [`EventHandler::handle`] unless a replay); nothing by default. A
    /// handler learns here what it has read of the stream, e.g. to ask another service once
    /// for a run instead of once per event.
    async fn before_run(&self, _events: &[Event]) {}

    /// Applies a run of events (in stream order, this consumer's share of a run) in one
    /// transaction. By default one at a time through [`EventHandler::handle`]; a handler may
    /// share work across the run (load once what every event reads, derive a guest's state
    /// once after all of the run's facts about them) as long as the run's outcome is the one
    /// its events applied in order would reach. A failing run is retried one event at a time.
    async fn handle_run(
        &self,
        txn: &DatabaseTransaction,
        events: &[&Event],
    ) -> Result<(), ConsumeError> {
        for event in events {
            self.handle(txn, event).await?;
        }
        Ok(())
    }
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
    /// The partition this consumer applies and the lease it holds it under; none: the
    /// whole stream, unfenced.
    slice: Option<Slice>,
}

/// One partition of a stream, held under a fenced lease.
#[derive(Clone, Debug)]
pub(super) struct Slice {
    pub(super) partition: Partition,
    pub(super) fence: Fence,
}

/// Why a run was refused: this replica no longer holds the partition's lease.
#[derive(Debug, thiserror::Error)]
#[error(
    "{consumer}: partition {partition} is leased to another replica now (fenced at epoch {epoch})"
)]
pub struct Fenced {
    pub consumer: String,
    pub partition: u32,
    pub epoch: i64,
}

impl Consumer {
    /// A consumer named `name` keeping its cursor in `db` (which has the kit tables).
    pub fn new(name: impl Into<String>, db: DatabaseConnection) -> Self {
        Self {
            name: name.into(),
            db,
            slice: None,
        }
    }

    /// The consumer `name` of partition `partition` only, committing only while `fence` is
    /// the partition's current lease (see [`super::partition`]).
    pub fn partitioned(
        name: impl Into<String>,
        db: DatabaseConnection,
        partition: Partition,
        fence: Fence,
    ) -> Self {
        Self {
            name: name.into(),
            db,
            slice: Some(Slice { partition, fence }),
        }
    }

    /// The name of the cursor row: the consumer's own, or its partition's.
    fn cursor_name(&self) -> String {
        match &self.slice {
            Some(slice) => slice.partition.cursor_name(&self.name),
            None => self.name.clone(),
        }
    }

    /// The last applied sequence (0 before the first event). A partitioned consumer's
    /// cursor is its slowest partition's: everything up to it is applied everywhere.
    pub async fn cursor(&self) -> Result<u64, DbError> {
        if let Some(slice) = &self.slice {
            return cursor_of(&self.db, &slice.partition.cursor_name(&self.name)).await;
        }
        applied_through(&self.db, &self.name).await
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
        // Each run is a trace of its own: the handler's log lines carry a trace id.
        let span = crate::telemetry::work_span("consume", &self.cursor_name());
        tracing::Instrument::instrument(self.apply_run_traced(events, handler), span).await
    }

    async fn apply_run_traced(
        &self,
        events: &[Event],
        handler: &dyn EventHandler,
    ) -> Result<usize, ConsumeError> {
        handler.before_run(events).await;
        self.db
            .execute_raw(stmt(
                &self.db,
                "INSERT INTO kit_consumer_cursor (consumer, position, updated_at_us) VALUES ($1, 0, 0)
                 ON CONFLICT (consumer) DO NOTHING",
                [self.cursor_name().into()],
            ))
            .await?;
        let txn = crate::db::begin_write(&self.db).await?;
        let lock = if is_postgres(&txn) { " FOR UPDATE" } else { "" };
        let row = txn
            .query_one_raw(stmt(
                &txn,
                &format!("SELECT position FROM kit_consumer_cursor WHERE consumer = $1{lock}"),
                [self.cursor_name().into()],
            ))
            .await?;
        let cursor = row
            .and_then(|r| r.try_get_by_index::<i64>(0).ok())
            .unwrap_or(0) as u64;
        if let Some(slice) = &self.slice {
            // The fence: the lease row, read under a share lock in the transaction that
            // will move the cursor. A replica taking the lease over bumps its epoch with
            // an UPDATE, which waits for this transaction; so either this run commits
            // before the takeover (and the new holder reads its cursor after), or it sees
            // the new epoch here and commits nothing.
            let share = if is_postgres(&txn) { " FOR SHARE" } else { "" };
            let held = txn
                .query_one_raw(stmt(
                    &txn,
                    &format!(
                        "SELECT 1 FROM kit_consumer_lease
                         WHERE consumer = $1 AND part = $2 AND holder = $3 AND epoch = $4{share}"
                    ),
                    [
                        self.name.clone().into(),
                        (slice.partition.index as i32).into(),
                        slice.fence.holder.clone().into(),
                        slice.fence.epoch.into(),
                    ],
                ))
                .await?;
            if held.is_none() {
                txn.rollback().await?;
                return Err(Box::new(Fenced {
                    consumer: self.name.clone(),
                    partition: slice.partition.index,
                    epoch: slice.fence.epoch,
                }));
            }
        }
        let mut position = cursor;
        let mut mine = Vec::with_capacity(events.len());
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
            // Another partition's event only moves this partition's cursor past it.
            if self.slice.as_ref().is_none_or(|s| s.partition.owns(event)) {
                mine.push(event);
            }
            position = event.sequence;
        }
        if position == cursor {
            txn.rollback().await?;
            return Ok(0);
        }
        if !mine.is_empty() {
            // An error drops `txn`, which rolls the whole run back.
            handler.handle_run(&txn, &mine).await?;
        }
        txn.execute_raw(stmt(
            &txn,
            "UPDATE kit_consumer_cursor SET position = $1, updated_at_us = $2 WHERE consumer = $3",
            [
                (position as i64).into(),
                chrono::Utc::now().timestamp_micros().into(),
                self.cursor_name().into(),
            ],
        ))
        .await?;
        txn.commit().await?;
        Ok((position - cursor) as usize)
    }

    /// Applies `run`; when it fails as a whole, one event at a time, so the events before
    /// a failing one still apply and the error is that event's own. A fenced run is not
    /// retried: no event of it can commit.
    async fn apply_or_isolate(
        &self,
        run: &[Event],
        handler: &dyn EventHandler,
    ) -> Result<(), ConsumeError> {
        match self.apply_run(run, handler).await {
            Ok(_) => Ok(()),
            Err(e) if e.is::<Fenced>() => Err(e),
            Err(_) if run.len() > 1 => {
                for event in run {
                    self.apply(event, handler).await?;
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Applies `run`, stopping at each stream-wide event of a partitioned stream for the
    /// barrier (see [`Partition::owns`]): partition 0 applies it once every other
    /// partition has reached it, and the others move past it once partition 0 has, so
    /// every guest's events keep their order relative to it.
    async fn apply_with_barriers(
        &self,
        run: &[Event],
        handler: &dyn EventHandler,
    ) -> Result<(), ConsumeError> {
        let Some(slice) = self.slice.as_ref().filter(|s| s.partition.count > 1) else {
            return self.apply_or_isolate(run, handler).await;
        };
        let mut rest = run;
        while let Some(at) = rest.iter().position(|e| slice.partition.of(e).is_none()) {
            let (before, from) = rest.split_at(at);
            if !before.is_empty() {
                self.apply_or_isolate(before, handler).await?;
            }
            let barrier = &from[0];
            let cursor = self.cursor().await?;
            if barrier.sequence > cursor {
                let wait_for = if slice.partition.index == 0 {
                    // Every other partition's cursor just before the barrier.
                    (1..slice.partition.count)
                        .map(|index| Partition {
                            index,
                            count: slice.partition.count,
                        })
                        .collect()
                } else {
                    vec![Partition {
                        index: 0,
                        count: slice.partition.count,
                    }]
                };
                let reached = if slice.partition.index == 0 {
                    barrier.sequence - 1
                } else {
                    barrier.sequence
                };
                self.wait_until(&wait_for, reached).await?;
            }
            self.apply_or_isolate(std::slice::from_ref(barrier), handler)
                .await?;
            rest = &from[1..];
        }
        if !rest.is_empty() {
            self.apply_or_isolate(rest, handler).await?;
        }
        Ok(())
    }

    /// Waits until every one of `partitions` has committed its cursor at `sequence` or
    /// beyond. Only a barrier waits, and barriers are rare (store, dish, tag definitions,
    /// merges), so a short poll costs little.
    async fn wait_until(&self, partitions: &[Partition], sequence: u64) -> Result<(), DbError> {
        let names: Vec<String> = partitions
            .iter()
            .map(|p| p.cursor_name(&self.name))
            .collect();
        let mut pause = Duration::from_millis(2);
        loop {
            if min_cursor(&self.db, names.iter().cloned()).await? >= sequence {
                return Ok(());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
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
        let _ = self.run_until_fenced(connect, handler, shutdown).await;
    }

    /// [`Consumer::run`], returning early (with why) when the partition's lease was taken
    /// over: reconnecting would only be fenced again.
    pub(super) async fn run_until_fenced<C, F, S>(
        &self,
        connect: C,
        handler: Arc<dyn EventHandler>,
        shutdown: impl Future<Output = ()>,
    ) -> Option<ConsumeError>
    where
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
                    self.apply_with_barriers(&run, handler.as_ref()).await?;
                }
                Ok::<(), ConsumeError>(())
            };
            tokio::select! {
                _ = &mut shutdown => return None,
                result = session => {
                    match result {
                        Ok(()) => backoff = Duration::from_millis(100),
                        Err(e) if e.is::<Fenced>() => return Some(e),
                        Err(e) => tracing::warn!(consumer = %self.cursor_name(), error = %e, "consumer interrupted; reconnecting"),
                    }
                }
            }
            tokio::select! {
                _ = &mut shutdown => return None,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// How far consumer `consumer` has applied its stream: its cursor, or when it is partitioned
/// its slowest partition's (everything up to it is applied in every partition). Read on
/// `conn`, so a handler can ask inside its own transaction.
pub async fn applied_through(conn: &impl ConnectionTrait, consumer: &str) -> Result<u64, DbError> {
    let count = super::partition::layout_count(conn, consumer).await?;
    if count <= 1 {
        return cursor_of(conn, consumer).await;
    }
    let names = (0..count).map(|index| Partition { index, count }.cursor_name(consumer));
    min_cursor(conn, names).await
}

/// The position of one cursor row (0 when it has none yet).
async fn cursor_of(db: &impl ConnectionTrait, cursor_name: &str) -> Result<u64, DbError> {
    let row = db
        .query_one_raw(stmt(
            db,
            "SELECT position FROM kit_consumer_cursor WHERE consumer = $1",
            [cursor_name.to_owned().into()],
        ))
        .await?;
    Ok(row
        .and_then(|r| r.try_get_by_index::<i64>(0).ok())
        .unwrap_or(0) as u64)
}

/// The lowest of several cursors (0 when any has no row yet).
pub(super) async fn min_cursor(
    db: &impl ConnectionTrait,
    cursor_names: impl Iterator<Item = String>,
) -> Result<u64, DbError> {
    let names: Vec<sea_orm::Value> = cursor_names.map(Into::into).collect();
    let wanted = names.len() as i64;
    let placeholders = (1..=names.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let row = db
        .query_one_raw(stmt(
            db,
            &format!(
                "SELECT MIN(position), COUNT(*) FROM kit_consumer_cursor WHERE consumer IN ({placeholders})"
            ),
            names,
        ))
        .await?;
    let (min, found) = row
        .map(|r| {
            (
                r.try_get_by_index::<Option<i64>>(0)
                    .ok()
                    .flatten()
                    .unwrap_or(0),
                r.try_get_by_index::<i64>(1).unwrap_or(0),
            )
        })
        .unwrap_or((0, 0));
    Ok(if found < wanted { 0 } else { min.max(0) as u64 })
}
