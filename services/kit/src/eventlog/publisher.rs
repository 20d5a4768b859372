//! Numbering committed outbox rows in commit order, gap-free.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use futures::StreamExt;
use sea_orm::{ConnectionTrait, DbBackend, sqlx::postgres::PgListener};

use super::EventLog;
use crate::db::{DbError, is_postgres, stmt};

/// Rows numbered per publishing transaction.
const BATCH: i64 = 2_000;
/// How often the publisher looks for rows while an append is recent (its commit may come
/// unsignalled) — today's old poll, now only for [`RECENT_APPEND`] after an append.
const ARMED_POLL: Duration = Duration::from_millis(200);
/// How long after an append the publisher keeps polling at [`ARMED_POLL`].
const RECENT_APPEND: Duration = Duration::from_secs(5);
/// The expression naming this schema's wake-up channel on PostgreSQL (a channel name must
/// stay under 64 bytes, and tests give every schema its own log, hence the digest).
const CHANNEL_SQL: &str = "'maitre_eventlog_' || md5(current_schema())";
/// How long the publisher lets commits gather after being woken by one.
const GATHER: Duration = Duration::from_millis(2);

impl EventLog {
    /// Numbers every committed, unnumbered row; returns how many were published.
    pub async fn publish_pending(&self) -> Result<u64, DbError> {
        let mut total = 0;
        loop {
            let n = self.publish_batch().await?;
            total += n;
            if n < BATCH as u64 {
                break;
            }
        }
        if total > 0
            && let Some(coord) = &self.coord
        {
            // Best effort: readers on other replicas also poll.
            let _ = coord.publish(&self.wake_channel(), &self.replica).await;
        }
        Ok(total)
    }

    async fn publish_batch(&self) -> Result<u64, DbError> {
        let txn = crate::db::begin_write(&self.db).await?;
        if is_postgres(&txn) {
            // One publisher at a time per schema, so `max(seq)` is stable until commit.
            txn.execute_unprepared(
                "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.kit_outbox'))",
            )
            .await?;
        }
        let numbered = txn
            .query_all_raw(stmt(
                &txn,
                // A join, not a subquery per row: numbering a batch stays linear in its size.
                "WITH base AS (SELECT COALESCE(MAX(seq), 0) AS top FROM kit_outbox),
                      todo AS (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n
                               FROM kit_outbox WHERE seq IS NULL ORDER BY id LIMIT $1)
                 UPDATE kit_outbox SET seq = base.top + todo.n FROM todo, base
                 WHERE kit_outbox.id = todo.id
                 RETURNING kit_outbox.seq",
                [BATCH.into()],
            ))
            .await?;
        if is_postgres(&txn) && !numbered.is_empty() {
            // Delivered at commit, to every replica listening (this one skips its own).
            txn.execute_raw(stmt(
                &txn,
                &format!("SELECT pg_notify({CHANNEL_SQL}, $1)"),
                [self.replica.clone().into()],
            ))
            .await?;
        }
        txn.commit().await?;
        let top = numbered
            .iter()
            .filter_map(|row| row.try_get_by_index::<i64>(0).ok())
            .max();
        if let Some(top) = top {
            self.published.send_if_modified(|current| {
                let advance = top as u64 > *current;
                if advance {
                    *current = top as u64;
                }
                advance
            });
        }
        Ok(numbered.len() as u64)
    }

    /// Refreshes the local view of the highest published sequence (other replicas publish too).
    pub(super) async fn refresh_published(&self) -> Result<(), DbError> {
        let row = self
            .db
            .query_one_raw(stmt(
                &self.db,
                "SELECT COALESCE(MAX(seq), 0) FROM kit_outbox",
                [],
            ))
            .await?;
        let top = row
            .and_then(|r| r.try_get_by_index::<i64>(0).ok())
            .unwrap_or(0) as u64;
        self.published.send_if_modified(|current| {
            let advance = top > *current;
            if advance {
                *current = top;
            }
            advance
        });
        Ok(())
    }

    /// Runs the publisher until `shutdown` resolves: on every local commit (after a short
    /// gathering pause, so a busy service numbers its commits in batches rather than one
    /// publishing transaction per commit), every other replica's wake-up, and every poll
    /// interval.
    pub async fn run_publisher(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let mut wakeups = None;
        let mut notifications = None;
        tokio::pin!(shutdown);
        loop {
            if wakeups.is_none()
                && let Some(coord) = &self.coord
            {
                wakeups = coord.subscribe(&self.wake_channel()).await.ok();
            }
            if notifications.is_none() && self.db.get_database_backend() == DbBackend::Postgres {
                notifications = self.listen().await;
            }
            let poll = if self.appended_within(RECENT_APPEND) {
                ARMED_POLL
            } else {
                self.safety_poll
            };
            let wake = tokio::select! {
                _ = &mut shutdown => break,
                _ = self.pending.notified() => Wake::LocalCommit,
                _ = foreign_wakeup(&mut wakeups, &self.replica) => Wake::Elsewhere,
                _ = foreign_wakeup(&mut notifications, &self.replica) => Wake::Elsewhere,
                _ = tokio::time::sleep(poll) => Wake::Elsewhere,
            };
            if wake == Wake::LocalCommit {
                tokio::time::sleep(GATHER).await;
            }
            if let Err(e) = self.publish_pending().await {
                tracing::warn!(error = %e, source = self.source, "publishing events failed; retrying");
            }
            if wake == Wake::Elsewhere
                && let Err(e) = self.refresh_published().await
            {
                tracing::warn!(error = %e, source = self.source, "reading published sequence failed");
            }
        }
        // Publish what committed before shutdown, so nothing waits for the next start.
        let _ = self.publish_pending().await;
    }
}

impl EventLog {
    /// Listens on this schema's wake-up channel with a connection of its own; `None` (and
    /// a warning) when it cannot, the safety poll standing in until the next try.
    async fn listen(&self) -> Option<futures::stream::BoxStream<'static, String>> {
        let attempt = async {
            let channel = self
                .db
                .query_one_raw(stmt(&self.db, &format!("SELECT {CHANNEL_SQL}"), []))
                .await?
                .and_then(|row| row.try_get_by_index::<String>(0).ok())
                .ok_or_else(|| DbError::Corrupt {
                    what: "wake-up channel".into(),
                    reason: "no name".into(),
                })?;
            let pool = self.db.get_postgres_connection_pool();
            let mut listener = PgListener::connect_with(pool).await.map_err(sql_error)?;
            listener.listen(&channel).await.map_err(sql_error)?;
            Ok::<_, DbError>(listener)
        };
        match attempt.await {
            Ok(listener) => {
                self.listening.store(true, Ordering::Relaxed);
                // A lost connection ends the stream (`try_recv` answers `None`): the
                // notifications sent meanwhile are gone, so the caller re-reads the log
                // at its next safety poll and listens again then.
                let listening = self.listening.clone();
                let stream = futures::stream::unfold(listener, move |mut listener| {
                    let listening = listening.clone();
                    async move {
                        match listener.try_recv().await {
                            Ok(Some(notification)) => {
                                Some((notification.payload().to_owned(), listener))
                            }
                            _ => {
                                listening.store(false, Ordering::Relaxed);
                                None
                            }
                        }
                    }
                });
                Some(stream.boxed())
            }
            Err(e) => {
                tracing::warn!(error = %e, source = self.source, "listening for event wake-ups failed; polling until it works");
                None
            }
        }
    }
}

fn sql_error(e: sea_orm::sqlx::Error) -> DbError {
    DbError::from(sea_orm::DbErr::Custom(format!("listening: {e}")))
}

/// Why the publisher woke.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// A transaction of this replica committed events.
    LocalCommit,
    /// Another replica published, or the poll interval passed.
    Elsewhere,
}

/// Waits for a wake-up published by another replica (this one's own are skipped). A lost
/// subscription is dropped, to be renewed by the caller; polling covers the gap.
async fn foreign_wakeup(
    wakeups: &mut Option<futures::stream::BoxStream<'static, String>>,
    own: &str,
) {
    let Some(stream) = wakeups.as_mut() else {
        return std::future::pending().await;
    };
    loop {
        match stream.next().await {
            Some(sender) if sender == own => continue,
            Some(_) => return,
            None => {
                *wakeups = None;
                return std::future::pending().await;
            }
        }
    }
}
