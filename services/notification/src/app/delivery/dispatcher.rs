//! The dispatcher loop. Each round claims a chunk of due messages in one statement (`SKIP LOCKED` on
//! PostgreSQL, so replicas never both claim one), decides the chunk set-based (`chunk.rs`: consent,
//! caps, quiet hours, render) and writes the outcomes of the messages not sent in one transaction
//! (`outcome.rs`). The rest go to the provider in batches: each batch is first marked handed (one
//! statement), then sent, then settled — so a worker killed mid-round leaves at most one batch
//! whose outcome is unknown, and never a message that is sent twice (`recovery.rs`).
//!
//! Each worker holds a short lease (`storage::claims`), renewed while it runs; its claims are
//! recovered by any replica once the lease lapses, and at once by its own replica restarted.

use std::{future::Future, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};

use super::chunk;
use super::outcome;
use super::recovery;
use super::round::Round;
use crate::app::idle::IdlePoll;
use crate::domain::channel_limits::ChannelLimits;
use crate::error::Result;
use crate::providers::Providers;
use crate::state::State;
use crate::storage::{claims, queue};

/// Tuning of a dispatcher.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Messages claimed per round: each round costs a few statements whatever its size, so larger
    /// rounds amortise them.
    pub batch: u64,
    /// Re-check this often after a busy round or a wake-up (other replicas' enqueues, deferrals
    /// coming due), then less often while rounds stay idle, up to 2 s.
    pub poll: Duration,
    /// The worker's lease, renewed every third of it while it runs: the claims of a worker that
    /// stopped renewing it are recovered this long after its last renewal.
    pub sending_lease: Duration,
    /// The replica's stable name (the pod name), or empty: a worker starting under a name retires
    /// the previous workers of that name at once (the replica restarted, they are dead).
    pub replica: String,
    pub limits: ChannelLimits,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            batch: 1_000,
            poll: Duration::from_millis(250),
            sending_lease: Duration::from_secs(15),
            replica: String::new(),
            limits: ChannelLimits::default(),
        }
    }
}

/// The longest wait between idle rounds ([`IdlePoll`]): this replica's enqueues wake it at once,
/// so the poll only finds deferrals and retries coming due (at most this late) and other
/// replicas' leftovers.
const IDLE_POLL_CAP: Duration = Duration::from_secs(2);

/// Messages handed to the provider per batch: at most this many are of unknown outcome when a
/// worker is killed mid-round. Two concurrency windows keep the provider busy between settles.
const HAND_BATCH: usize = 2 * chunk::SEND_CONCURRENCY;

/// How long a retired worker's row is kept (for the record of who held a claim).
const FORGET_WORKERS_AFTER: Duration = Duration::from_secs(24 * 3600);

/// One replica's dispatcher.
#[derive(Clone)]
pub struct Dispatcher {
    state: State,
    providers: Providers,
    config: DispatcherConfig,
    /// This worker's id: the claimant of the messages it claims.
    worker: Arc<str>,
}

/// Stops the lease renewal when the loop ends, however it ends (a dropped loop must not leave a
/// task renewing the lease of a worker that no longer sends).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn us(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

impl Dispatcher {
    /// A dispatcher sending through `providers`.
    pub fn new(state: State, providers: Providers, config: DispatcherConfig) -> Self {
        Self {
            state,
            providers,
            config,
            worker: uuid::Uuid::new_v4().to_string().into(),
        }
    }

    /// This worker's id.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// Registers this worker (renewing its lease) and retires the previous workers of its replica.
    /// [`Dispatcher::run`] does this and keeps the lease renewed; callers driving
    /// [`Dispatcher::run_once`] themselves beside other workers register first.
    pub async fn register(&self, now: DateTime<Utc>) -> Result<()> {
        self.renew(now).await?;
        let retired =
            claims::retire_replica(&self.state.db, &self.config.replica, &self.worker).await?;
        if retired > 0 {
            tracing::info!(
                retired,
                "previous dispatcher workers of this replica retired; their claims are recovered now"
            );
        }
        Ok(())
    }

    async fn renew(&self, now: DateTime<Utc>) -> Result<()> {
        claims::renew(
            &self.state.db,
            &self.worker,
            &self.config.replica,
            now.timestamp_micros() + us(self.config.sending_lease),
        )
        .await
    }

    /// Runs until `shutdown`: a round whenever woken or every `poll`, the lease renewed alongside.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        if let Err(e) = self.register(Utc::now()).await {
            tracing::warn!(error = %e, "cannot register the dispatcher worker; retrying each round");
        }
        let _heartbeat = {
            let this = self.clone();
            AbortOnDrop(tokio::spawn(async move {
                let period = (this.config.sending_lease / 3).max(Duration::from_millis(100));
                loop {
                    tokio::time::sleep(period).await;
                    if let Err(e) = this.renew(Utc::now()).await {
                        tracing::warn!(error = %e, "cannot renew the dispatcher lease");
                    }
                }
            }))
        };
        tokio::pin!(shutdown);
        let mut poll = IdlePoll::new(self.config.poll, IDLE_POLL_CAP);
        loop {
            let busy = match self.run_once(Utc::now()).await {
                Ok(handled) => handled > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "dispatcher round failed");
                    false
                }
            };
            if busy {
                poll.reset();
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::task::yield_now() => {}
                }
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.state.wake.notified() => poll.reset(),
                _ = tokio::time::sleep(poll.idle()) => {}
            }
        }
        // Rounds settle everything they claim, so a graceful stop leaves no claim behind.
        let forget = Utc::now().timestamp_micros() - us(FORGET_WORKERS_AFTER);
        if let Err(e) = claims::retire(&self.state.db, &self.worker, forget).await {
            tracing::warn!(error = %e, "cannot retire the dispatcher worker; its lease lapses");
        }
    }

    /// One round at `now`: recovers abandoned claims, then decides and sends a chunk of due
    /// messages. Returns how many messages this round settled.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<usize> {
        let now_us = now.timestamp_micros();
        let mut round = Round::default();
        let recovered = recovery::recover(
            &self.state,
            &self.providers,
            &self.worker,
            &mut round,
            now,
            self.config.batch,
        )
        .await?;
        let claimed =
            queue::claim_due(&self.state.db, &self.worker, now_us, self.config.batch).await?;
        let decided =
            chunk::decide(&self.state, &self.config.limits, &mut round, &claimed, now).await?;
        let mut settled =
            outcome::settle_all(&self.state, &decided.outcomes, &self.worker, now_us).await?;
        let mut ready = decided.ready;
        while !ready.is_empty() {
            let rest = ready.split_off(ready.len().min(HAND_BATCH));
            let batch = std::mem::replace(&mut ready, rest);
            settled += self.send_batch(batch, now).await?;
        }
        Ok(recovered + settled)
    }

    /// Marks `batch` handed, sends the messages still ours, and settles them.
    async fn send_batch(&self, batch: Vec<chunk::Ready<'_>>, now: DateTime<Utc>) -> Result<usize> {
        let rows: Vec<_> = batch.iter().map(|r| r.row).collect();
        let handed: std::collections::HashSet<String> = claims::hand(
            &self.state.db,
            &self.worker,
            &rows,
            Utc::now().timestamp_micros(),
        )
        .await?
        .into_iter()
        .collect();
        let batch: Vec<_> = batch
            .into_iter()
            .filter(|r| handed.contains(&r.row.message_id))
            .collect();
        let outcomes = chunk::send_all(&self.providers, batch, now).await;
        outcome::settle_all(
            &self.state,
            &outcomes,
            &self.worker,
            Utc::now().timestamp_micros(),
        )
        .await
    }
}
