//! Appending events in the caller's transaction, and the handle services keep.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use maitre_proto::events::v1::{Event, EventScope, event::Payload};
use prost::Message;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::sync::{Notify, watch};

use crate::{
    coord::Coordination,
    db::{DbError, stmt},
};

/// Events per INSERT statement in [`EventLog::append_all`] (3 parameters each, well under
/// PostgreSQL's 65,535 and SQLite's 32,766 bind limits).
pub const APPEND_CHUNK: usize = 1_000;

/// Inserts outbox rows given as flat `(chain_id, payload, created_at_us)` triples.
async fn insert_rows(
    conn: &impl ConnectionTrait,
    rows: Vec<sea_orm::Value>,
) -> Result<(), DbError> {
    let sql = format!(
        "INSERT INTO kit_outbox (chain_id, payload, created_at_us) VALUES {}",
        crate::db::value_rows(rows.len() / 3, 3)
    );
    conn.execute_raw(stmt(conn, &sql, rows)).await?;
    Ok(())
}

/// A service's event log. Cheap to clone through `Arc`.
pub struct EventLog {
    pub(super) db: DatabaseConnection,
    pub(super) source: &'static str,
    /// Wakes the publisher after a local commit.
    pub(super) pending: Notify,
    /// The highest published sequence known to this replica; wakes local readers.
    pub(super) published: watch::Sender<u64>,
    /// Cross-replica wake-ups (may be lost; polling covers them).
    pub(super) coord: Option<Arc<dyn Coordination>>,
    /// This process's id in wake-up messages (so it skips its own).
    pub(super) replica: String,
    /// Set when the service shuts down: live `Watch` streams end.
    pub(super) closed: watch::Sender<bool>,
    /// How often the publisher and every `Watch` look at the database when nothing woke
    /// them: the safety net under the wake-ups (a lost NOTIFY, a reconnect, a commit
    /// nobody signalled).
    pub(super) safety_poll: Duration,
    /// When this log was made; [`EventLog::last_append_ms`] counts from it.
    pub(super) born: Instant,
    /// Milliseconds after `born` of the last append (`u64::MAX`: never). An append whose
    /// commit is never signalled with [`EventLog::committed`] is caught by polling fast
    /// for a while after it, rather than waiting for the safety poll.
    pub(super) last_append_ms: AtomicU64,
    /// Whether this replica currently listens for other replicas' wake-ups on PostgreSQL.
    pub(super) listening: Arc<AtomicBool>,
}

/// The default safety poll: long enough that an idle service costs next to nothing,
/// short enough that a lost wake-up delays an event by seconds, not minutes.
pub const SAFETY_POLL: Duration = Duration::from_secs(5);

impl EventLog {
    /// The log of service `source` (e.g. "profile") in `db`.
    pub fn new(
        db: DatabaseConnection,
        source: &'static str,
        coord: Option<Arc<dyn Coordination>>,
    ) -> Arc<Self> {
        Self::with_safety_poll(db, source, coord, SAFETY_POLL)
    }

    /// [`EventLog::new`] with another safety-poll interval (tests shorten or lengthen it to
    /// tell a wake-up from the poll).
    pub fn with_safety_poll(
        db: DatabaseConnection,
        source: &'static str,
        coord: Option<Arc<dyn Coordination>>,
        safety_poll: Duration,
    ) -> Arc<Self> {
        let (published, _) = watch::channel(0);
        let (closed, _) = watch::channel(false);
        Arc::new(Self {
            db,
            source,
            pending: Notify::new(),
            published,
            coord,
            replica: uuid::Uuid::new_v4().to_string(),
            closed,
            safety_poll,
            born: Instant::now(),
            last_append_ms: AtomicU64::new(u64::MAX),
            listening: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Whether the last append was less than `window` ago.
    pub(super) fn appended_within(&self, window: Duration) -> bool {
        let last = self.last_append_ms.load(Ordering::Relaxed);
        last != u64::MAX
            && (self.born.elapsed().as_millis() as u64).saturating_sub(last)
                < window.as_millis() as u64
    }

    /// Whether this replica listens for other replicas' wake-ups through PostgreSQL
    /// `LISTEN` right now (false on SQLite, and between a lost connection and the next
    /// safety poll, which renews it).
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    /// The emitting service's name.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Appends an event in the caller's transaction; it is published after the commit.
    /// Call [`EventLog::committed`] once the transaction commits to publish at once.
    pub async fn append(
        &self,
        conn: &impl ConnectionTrait,
        chain_id: &str,
        scope: EventScope,
        payload: Payload,
    ) -> Result<String, DbError> {
        let mut ids = self.append_all(conn, chain_id, [(scope, payload)]).await?;
        Ok(ids.pop().unwrap_or_default())
    }

    /// Appends several events in the caller's transaction with one statement per
    /// [`APPEND_CHUNK`] events (bulk paths: imports, bulk transfers); their ids in order.
    pub async fn append_all(
        &self,
        conn: &impl ConnectionTrait,
        chain_id: &str,
        events: impl IntoIterator<Item = (EventScope, Payload)>,
    ) -> Result<Vec<String>, DbError> {
        self.last_append_ms
            .store(self.born.elapsed().as_millis() as u64, Ordering::Relaxed);
        let now = chrono::Utc::now();
        let mut ids = Vec::new();
        let mut rows: Vec<sea_orm::Value> = Vec::new();
        for (scope, payload) in events {
            let event_id = uuid::Uuid::now_v7().to_string();
            let event = Event {
                sequence: 0,
                event_id: event_id.clone(),
                chain_id: chain_id.to_owned(),
                occurred_at: Some(prost_types::Timestamp {
                    seconds: now.timestamp(),
                    nanos: now.timestamp_subsec_nanos() as i32,
                }),
                source: self.source.to_owned(),
                scope: Some(scope),
                payload: Some(payload),
            };
            ids.push(event_id);
            rows.extend([
                chain_id.into(),
                event.encode_to_vec().into(),
                now.timestamp_micros().into(),
            ]);
            if rows.len() == APPEND_CHUNK * 3 {
                insert_rows(conn, std::mem::take(&mut rows)).await?;
            }
        }
        if !rows.is_empty() {
            insert_rows(conn, rows).await?;
        }
        Ok(ids)
    }

    /// Signals that a transaction with appended events committed.
    pub fn committed(&self) {
        self.pending.notify_one();
    }

    /// Ends every live `Watch` stream (at shutdown); clients reconnect elsewhere.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// The highest sequence published so far (as known to this replica).
    pub fn published_sequence(&self) -> u64 {
        *self.published.borrow()
    }

    pub(super) fn wake_channel(&self) -> String {
        format!("eventlog:{}", self.source)
    }
}
