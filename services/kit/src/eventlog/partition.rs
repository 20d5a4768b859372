//! Sharing one stream's consumption among replicas: partitions by guest, each held by one
//! replica at a time under a fenced lease, rebalanced as replicas come and go.
//!
//! A consumer's stream is cut into `count` partitions by a stable hash of the guest
//! (`scope.customer_id`), so one guest's events stay in order. Each partition has its own
//! cursor (`<consumer>#<index>`) and a lease row (`kit_consumer_lease`: holder, epoch,
//! expiry). A replica applies a partition only while it holds the lease, and every run's
//! transaction checks the lease's holder and epoch before it moves the cursor
//! ([`super::Consumer::apply_run`]); taking a lease over bumps the epoch, so a replica that
//! lost its lease (paused, partitioned away, slow to notice) can commit nothing more.
//!
//! Replicas announce themselves in `kit_consumer_member` with the same expiry. Each one's
//! fair share is `count / members` (the first `count % members` by name take one more); a
//! replica above its share releases partitions, one below takes free or expired ones. A
//! replica that leaves releases its leases at once; one that dies is taken over when its
//! leases expire.
//!
//! Events about no guest (store, dish, tag definitions) and merges (two guests at once)
//! concern every partition: they are barriers, applied by partition 0 once every
//! partition has reached them, and passed by the others once partition 0 has applied them.
//! On the embedded backend (one process) the stream is one partition.

use std::{collections::BTreeMap, future::Future, sync::Arc, time::Duration};

use futures::Stream;
use maitre_proto::events::v1::{Event, event::Payload};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::{sync::watch, task::JoinHandle};

use super::{ConsumeError, Consumer, EventHandler};
use crate::db::{DbError, stmt};

/// One partition of a stream of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    pub index: u32,
    pub count: u32,
}

impl Partition {
    /// The partition of `event` (by its guest); `None` for a barrier: an event about no
    /// guest, or about two (a merge). With one partition, every event is partition 0's.
    pub fn of(&self, event: &Event) -> Option<u32> {
        if self.count <= 1 {
            return Some(0);
        }
        let customer = event
            .scope
            .as_ref()
            .map(|s| s.customer_id.as_str())
            .unwrap_or_default();
        if customer.is_empty() || matches!(event.payload, Some(Payload::CustomerMerged(_))) {
            return None;
        }
        Some((fnv1a(customer.as_bytes()) % u64::from(self.count)) as u32)
    }

    /// Whether this partition applies `event`: its own guests', and partition 0 the
    /// barriers.
    pub fn owns(&self, event: &Event) -> bool {
        self.of(event).unwrap_or(0) == self.index
    }

    /// The cursor row of this partition of `consumer`; a single partition keeps the
    /// consumer's own cursor, so turning partitions on or off continues from it.
    pub fn cursor_name(&self, consumer: &str) -> String {
        if self.count <= 1 {
            consumer.to_owned()
        } else {
            format!("{consumer}#{}", self.index)
        }
    }
}

/// FNV-1a, 64 bit: a hash that never changes between builds or processes, as partition
/// assignments must not (std's `DefaultHasher` makes no such promise).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The lease a partition is applied under: who holds it and at which epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    pub holder: String,
    pub epoch: i64,
}

/// How long a lease lives and how often its holder renews it.
#[derive(Clone, Copy, Debug)]
pub struct LeaseTiming {
    /// A lease (and a membership) not renewed within this is free for another replica.
    pub ttl: Duration,
    /// How often a replica renews, and looks whether it should take or give partitions.
    pub renew_every: Duration,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(15),
            renew_every: Duration::from_secs(3),
        }
    }
}

/// How many partitions `consumer` has (0 before it first ran partitioned).
pub async fn layout_count(db: &impl ConnectionTrait, consumer: &str) -> Result<u32, DbError> {
    let row = db
        .query_one_raw(stmt(
            db,
            "SELECT COUNT(*) FROM kit_consumer_lease WHERE consumer = $1",
            [consumer.to_owned().into()],
        ))
        .await?;
    Ok(row
        .and_then(|r| r.try_get_by_index::<i64>(0).ok())
        .unwrap_or(0) as u32)
}

/// Records `count` partitions for `consumer` unless it has a layout already, and returns
/// the one in force. New partitions' cursors start at the consumer's unpartitioned cursor,
/// so turning partitions on replays nothing and skips nothing. A layout, once recorded,
/// stays: moving guests between partitions while cursors differ would apply some events
/// twice, so a different configured count is reported and ignored.
pub async fn ensure_layout(
    db: &DatabaseConnection,
    consumer: &str,
    count: u32,
) -> Result<u32, DbError> {
    let existing = layout_count(db, consumer).await?;
    if existing > 0 {
        if existing != count {
            tracing::warn!(
                consumer,
                configured = count,
                in_force = existing,
                "the partition count of a consumer is fixed when it first runs; keeping it"
            );
        }
        return Ok(existing);
    }
    let txn = crate::db::begin_write(db).await?;
    let start = txn
        .query_one_raw(stmt(
            &txn,
            "SELECT position FROM kit_consumer_cursor WHERE consumer = $1",
            [consumer.to_owned().into()],
        ))
        .await?
        .and_then(|r| r.try_get_by_index::<i64>(0).ok())
        .unwrap_or(0);
    for index in 0..count {
        txn.execute_raw(stmt(
            &txn,
            "INSERT INTO kit_consumer_lease (consumer, part, holder, epoch, expires_at_us)
             VALUES ($1, $2, '', 0, 0) ON CONFLICT (consumer, part) DO NOTHING",
            [consumer.to_owned().into(), (index as i32).into()],
        ))
        .await?;
        let partition = Partition { index, count };
        txn.execute_raw(stmt(
            &txn,
            "INSERT INTO kit_consumer_cursor (consumer, position, updated_at_us) VALUES ($1, $2, 0)
             ON CONFLICT (consumer) DO NOTHING",
            [partition.cursor_name(consumer).into(), start.into()],
        ))
        .await?;
    }
    txn.commit().await?;
    // Two replicas starting at once with different counts: whichever committed first wins.
    layout_count(db, consumer).await
}

/// A replica's share of `count` partitions among the `members` (sorted), or 0 if it is
/// not (yet) one of them.
pub fn fair_share(count: u32, members: &[String], me: &str) -> u32 {
    let Some(rank) = members.iter().position(|m| m == me) else {
        return 0;
    };
    let n = members.len() as u32;
    count / n + u32::from((rank as u32) < count % n)
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// One partition this replica applies: its fence and the worker applying it.
struct Held {
    fence: Fence,
    stop: watch::Sender<bool>,
    /// Taken when the worker is stopped in order; a worker still here when its replica's
    /// consumer is dropped (the replica going down hard) dies with it.
    worker: Option<JoinHandle<()>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            worker.abort();
        }
    }
}

/// One replica's share of a partitioned consumer: keeps its membership and leases, and
/// runs one worker per partition it holds.
pub struct PartitionedConsumer {
    name: String,
    db: DatabaseConnection,
    count: u32,
    holder: String,
    timing: LeaseTiming,
}

impl PartitionedConsumer {
    /// Consumer `name` cut into `count` partitions (the recorded layout wins), this
    /// replica known as `holder` (unique per process: a restarted replica is a new holder).
    pub fn new(
        name: impl Into<String>,
        db: DatabaseConnection,
        count: u32,
        holder: impl Into<String>,
        timing: LeaseTiming,
    ) -> Self {
        Self {
            name: name.into(),
            db,
            count: count.max(1),
            holder: holder.into(),
            timing,
        }
    }

    /// Takes part in consuming until `shutdown`, then stops its workers and releases its
    /// leases so another replica takes them over at once. `connect(from)` opens
    /// `Watch(from)` for a worker.
    pub async fn run<C, F, S>(
        self,
        connect: C,
        handler: Arc<dyn EventHandler>,
        shutdown: impl Future<Output = ()>,
    ) where
        C: Fn(u64) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Result<S, ConsumeError>> + Send,
        S: Stream<Item = Result<Event, tonic::Status>> + Unpin + Send,
    {
        tokio::pin!(shutdown);
        let count = loop {
            match ensure_layout(&self.db, &self.name, self.count).await {
                Ok(count) => break count,
                Err(e) => {
                    tracing::warn!(consumer = %self.name, error = %e, "partition layout unavailable; retrying");
                    tokio::select! {
                        _ = &mut shutdown => return,
                        _ = tokio::time::sleep(self.timing.renew_every) => {}
                    }
                }
            }
        };
        let mut held: BTreeMap<u32, Held> = BTreeMap::new();
        loop {
            if let Err(e) = self.rebalance(count, &mut held, &connect, &handler).await {
                tracing::warn!(consumer = %self.name, error = %e, "partition leases not renewed");
            }
            metrics::gauge!("maitre_consumer_partitions_held", "consumer" => self.name.clone())
                .set(held.len() as f64);
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(self.timing.renew_every) => {}
            }
        }
        let parts: Vec<u32> = held.keys().copied().collect();
        for index in parts {
            if let Some(h) = held.remove(&index) {
                self.stop_and_release(index, h).await;
            }
        }
        let _ = self
            .db
            .execute_raw(stmt(
                &self.db,
                "DELETE FROM kit_consumer_member WHERE consumer = $1 AND holder = $2",
                [self.name.clone().into(), self.holder.clone().into()],
            ))
            .await;
    }

    /// One round: renew membership and leases, drop what was lost, give away what is over
    /// this replica's share, take free partitions up to it.
    async fn rebalance<C, F, S>(
        &self,
        count: u32,
        held: &mut BTreeMap<u32, Held>,
        connect: &C,
        handler: &Arc<dyn EventHandler>,
    ) -> Result<(), DbError>
    where
        C: Fn(u64) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Result<S, ConsumeError>> + Send,
        S: Stream<Item = Result<Event, tonic::Status>> + Unpin + Send,
    {
        let now = now_us();
        let expires = now + self.timing.ttl.as_micros() as i64;
        let db = &self.db;
        db.execute_raw(stmt(
            db,
            "INSERT INTO kit_consumer_member (consumer, holder, expires_at_us) VALUES ($1, $2, $3)
             ON CONFLICT (consumer, holder) DO UPDATE SET expires_at_us = excluded.expires_at_us",
            [
                self.name.clone().into(),
                self.holder.clone().into(),
                expires.into(),
            ],
        ))
        .await?;
        // Members gone for a long while are forgotten (their leases expired long ago).
        db.execute_raw(stmt(
            db,
            "DELETE FROM kit_consumer_member WHERE consumer = $1 AND expires_at_us < $2",
            [
                self.name.clone().into(),
                (now - 10 * self.timing.ttl.as_micros() as i64).into(),
            ],
        ))
        .await?;
        let members: Vec<String> = db
            .query_all_raw(stmt(
                db,
                "SELECT holder FROM kit_consumer_member WHERE consumer = $1 AND expires_at_us > $2
                 ORDER BY holder",
                [self.name.clone().into(), now.into()],
            ))
            .await?
            .into_iter()
            .filter_map(|r| r.try_get_by_index::<String>(0).ok())
            .collect();
        let share = fair_share(count, &members, &self.holder);

        // Renew what is still ours; a lease renewed by nobody here was taken over.
        let mut lost = vec![];
        for (index, h) in held.iter() {
            let renewed = db
                .execute_raw(stmt(
                    db,
                    "UPDATE kit_consumer_lease SET expires_at_us = $1
                     WHERE consumer = $2 AND part = $3 AND holder = $4 AND epoch = $5",
                    [
                        expires.into(),
                        self.name.clone().into(),
                        (*index as i32).into(),
                        h.fence.holder.clone().into(),
                        h.fence.epoch.into(),
                    ],
                ))
                .await?
                .rows_affected();
            if renewed == 0 || h.worker.as_ref().is_none_or(JoinHandle::is_finished) {
                lost.push(*index);
            }
        }
        for index in lost {
            if let Some(h) = held.remove(&index) {
                tracing::info!(consumer = %self.name, partition = index, "partition lost or its worker ended; letting it go");
                self.stop_and_release(index, h).await;
            }
        }
        // Over the share (a replica joined): give the highest partitions back.
        while held.len() as u32 > share {
            let Some((&index, _)) = held.iter().next_back() else {
                break;
            };
            if let Some(h) = held.remove(&index) {
                self.stop_and_release(index, h).await;
            }
        }
        // Under the share (a replica left or died): take free or expired partitions.
        if (held.len() as u32) < share {
            let free = db
                .query_all_raw(stmt(
                    db,
                    "SELECT part, epoch FROM kit_consumer_lease
                     WHERE consumer = $1 AND (holder = '' OR expires_at_us < $2) ORDER BY part",
                    [self.name.clone().into(), now.into()],
                ))
                .await?;
            for row in free {
                if held.len() as u32 >= share {
                    break;
                }
                let (Ok(index), Ok(epoch)) = (
                    row.try_get_by_index::<i32>(0),
                    row.try_get_by_index::<i64>(1),
                ) else {
                    continue;
                };
                // Taken only if nobody took it since it was seen free.
                let taken = db
                    .execute_raw(stmt(
                        db,
                        "UPDATE kit_consumer_lease SET holder = $1, epoch = epoch + 1, expires_at_us = $2
                         WHERE consumer = $3 AND part = $4 AND epoch = $5
                           AND (holder = '' OR expires_at_us < $6)",
                        [
                            self.holder.clone().into(),
                            expires.into(),
                            self.name.clone().into(),
                            index.into(),
                            epoch.into(),
                            now.into(),
                        ],
                    ))
                    .await?
                    .rows_affected();
                if taken == 1 {
                    let fence = Fence {
                        holder: self.holder.clone(),
                        epoch: epoch + 1,
                    };
                    let index = index as u32;
                    tracing::info!(consumer = %self.name, partition = index, epoch = fence.epoch, "partition taken");
                    held.insert(
                        index,
                        self.start_worker(index, count, fence, connect, handler),
                    );
                }
            }
        }
        Ok(())
    }

    fn start_worker<C, F, S>(
        &self,
        index: u32,
        count: u32,
        fence: Fence,
        connect: &C,
        handler: &Arc<dyn EventHandler>,
    ) -> Held
    where
        C: Fn(u64) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Result<S, ConsumeError>> + Send,
        S: Stream<Item = Result<Event, tonic::Status>> + Unpin + Send,
    {
        let consumer = Consumer::partitioned(
            self.name.clone(),
            self.db.clone(),
            Partition { index, count },
            fence.clone(),
        );
        let (stop, mut stopped) = watch::channel(false);
        let connect = connect.clone();
        let handler = Arc::clone(handler);
        let worker = tokio::spawn(async move {
            let until_stopped = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Some(e) = consumer
                .run_until_fenced(connect, handler, until_stopped)
                .await
            {
                tracing::info!(error = %e, "partition worker fenced");
            }
        });
        Held {
            fence,
            stop,
            worker: Some(worker),
        }
    }

    /// Stops a partition's worker (its run in flight commits or rolls back whole), then
    /// frees the lease if it is still ours, so another replica need not wait for expiry.
    async fn stop_and_release(&self, index: u32, mut held: Held) {
        let _ = held.stop.send(true);
        if let Some(mut worker) = held.worker.take()
            && tokio::time::timeout(self.timing.ttl, &mut worker)
                .await
                .is_err()
        {
            // A run stuck past the lease's life: abandon it; the fence refuses its commit.
            worker.abort();
        }
        let _ = self
            .db
            .execute_raw(stmt(
                &self.db,
                "UPDATE kit_consumer_lease SET holder = '', expires_at_us = 0
                 WHERE consumer = $1 AND part = $2 AND holder = $3 AND epoch = $4",
                [
                    self.name.clone().into(),
                    (index as i32).into(),
                    held.fence.holder.clone().into(),
                    held.fence.epoch.into(),
                ],
            ))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use maitre_proto::events::v1::{CustomerMerged, EventScope};

    use super::*;

    fn about(customer: &str) -> Event {
        Event {
            scope: Some(EventScope {
                customer_id: customer.into(),
                ..EventScope::default()
            }),
            ..Event::default()
        }
    }

    #[test]
    fn one_guest_always_lands_in_one_partition() {
        let p = Partition { index: 0, count: 8 };
        let first = p.of(&about("c-42"));
        assert!(first.is_some());
        for _ in 0..3 {
            assert_eq!(p.of(&about("c-42")), first);
        }
        // Guests spread over the partitions.
        let used: std::collections::BTreeSet<_> = (0..200)
            .filter_map(|i| p.of(&about(&format!("c-{i}"))))
            .collect();
        assert_eq!(used.len(), 8);
    }

    #[test]
    fn stream_wide_events_are_barriers_owned_by_partition_zero() {
        let mut merge = about("c-1");
        merge.payload = Some(Payload::CustomerMerged(CustomerMerged::default()));
        for event in [about(""), merge] {
            assert_eq!(Partition { index: 3, count: 4 }.of(&event), None);
            assert!(Partition { index: 0, count: 4 }.owns(&event));
            assert!(!Partition { index: 3, count: 4 }.owns(&event));
        }
        assert!(Partition { index: 0, count: 1 }.owns(&about("")));
    }

    #[test]
    fn shares_add_up_and_differ_by_at_most_one() {
        for count in 1..=16u32 {
            for n in 1..=6usize {
                let members: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
                let shares: Vec<u32> = members
                    .iter()
                    .map(|m| fair_share(count, &members, m))
                    .collect();
                assert_eq!(shares.iter().sum::<u32>(), count);
                let (lo, hi) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
                assert!(hi - lo <= 1);
            }
        }
        assert_eq!(fair_share(4, &["a".into()], "b"), 0);
    }
}
