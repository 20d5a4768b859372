//! The event log: an outbox written in the caller's transaction, published in commit
//! order with gap-free sequences, served by `Watch(from_sequence)`, and consumed with
//! cursors committed together with the consumer's effect.
//!
//! Why a publisher: database sequences commit out of order, so a reader that followed
//! the insert id could skip a row whose transaction commits late. Producers therefore
//! insert rows *without* a sequence; the publisher (one at a time, under an advisory
//! lock on PostgreSQL; SQLite serialises writers anyway) numbers the committed,
//! unnumbered rows `max(seq) + 1, + 2, …` in insert order. A late commit is simply
//! numbered later — never skipped — and readers follow `seq`, which only grows.
//!
//! Nothing polls on a short timer. A local commit wakes the publisher
//! ([`EventLog::committed`]); the publisher wakes local `Watch` streams (a `watch` channel)
//! and other replicas: through PostgreSQL `NOTIFY` in its numbering transaction (delivered
//! at commit to every replica's `LISTEN`) and Redis pub/sub when there is coordination.
//! A slow safety poll ([`SAFETY_POLL`]) covers a lost signal or a dropped listener; for a
//! few seconds after an append the publisher also polls fast, so a commit whose caller
//! forgot `committed()` is not left for the safety poll.
//!
//! Replicas share a consumer's work by partition ([`partition`]): each guest's events go to
//! one partition, each partition is applied by one replica at a time under a fenced lease.

mod consumer;
mod follow;
mod outbox;
pub mod partition;
mod publisher;
mod schema;
mod service;
mod watch;

pub use consumer::{ConsumeError, Consumer, EventHandler, Fenced, applied_through};
pub use follow::{follow, open_watch};
pub use outbox::{APPEND_CHUNK, EventLog, SAFETY_POLL};
pub use partition::{Fence, LeaseTiming, Partition, PartitionedConsumer};
pub use schema::{ConsumerLeases, KitTables, PublishedSequenceIndexes};
pub use service::{
    ConsumerRegistry, EventLogApi, LogHead, OUTBOX_REPORT_EVERY, OutboxDepth, report_outbox,
    upstream_head,
};
pub use watch::{BoxEventStream, EventStream, watch_for};
