//! The dispatcher loop. Each round claims a chunk of due messages in one statement (`SKIP LOCKED` on
//! PostgreSQL, so replicas never both send one), decides the chunk set-based (`chunk.rs`: consent, caps,
//! quiet hours, render, send) and writes every outcome with its history and events in one transaction
//! (`outcome.rs`). Messages a killed worker left in `sending` are recovered as failed attempts after a
//! lease (its sends carry the message id as the provider's idempotency key).

use std::{future::Future, time::Duration};

use chrono::{DateTime, Utc};

use super::Pipeline;
use super::chunk;
use super::outcome::{self, Outcome};
use super::provider::Providers;
use super::round::Round;
use crate::domain::channel_limits::ChannelLimits;
use crate::domain::retry::DeliveryFailure;
use crate::error::Result;
use crate::storage::messages::MessageRow;
use crate::storage::queue;

/// Tuning of a dispatcher.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Messages claimed per round: each round costs a few statements whatever its size, so larger
    /// rounds amortise them (a round's sends are retried after `sending_lease` if the worker dies).
    pub batch: u64,
    /// Re-check at least this often (other replicas' enqueues, deferrals coming due).
    pub poll: Duration,
    /// A message claimed longer ago than this by a worker that never finished is retried.
    pub sending_lease: Duration,
    pub limits: ChannelLimits,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            batch: 1_000,
            poll: Duration::from_millis(250),
            sending_lease: Duration::from_secs(300),
            limits: ChannelLimits::default(),
        }
    }
}

/// One replica's dispatcher.
#[derive(Clone)]
pub struct Dispatcher {
    pipeline: Pipeline,
    providers: Providers,
    config: DispatcherConfig,
}

fn us(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

impl Dispatcher {
    /// A dispatcher sending through `providers`.
    pub fn new(pipeline: Pipeline, providers: Providers, config: DispatcherConfig) -> Self {
        Self {
            pipeline,
            providers,
            config,
        }
    }

    /// Runs until `shutdown`: a round whenever woken or every `poll`.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let busy = match self.run_once(Utc::now()).await {
                Ok(handled) => handled > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "dispatcher round failed");
                    false
                }
            };
            if busy {
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = tokio::task::yield_now() => {}
                }
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.pipeline.wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll) => {}
            }
        }
    }

    /// One round at `now`: recovers abandoned sends, then decides a chunk of due messages. Returns
    /// how many messages this round decided.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<usize> {
        let now_us = now.timestamp_micros();
        let mut round = Round::default();
        let stale = queue::stale_sending(
            &self.pipeline.db,
            now_us - us(self.config.sending_lease),
            self.config.batch,
        )
        .await?;
        let recovered = self.recover(&stale, &mut round, now).await?;
        let claimed = queue::claim_due(&self.pipeline.db, now_us, self.config.batch).await?;
        let decided = chunk::decide(
            &self.pipeline,
            &self.providers,
            &self.config.limits,
            &mut round,
            &claimed,
            now,
        )
        .await?;
        outcome::settle_all(&self.pipeline, &decided, now_us).await?;
        Ok(recovered + decided.len())
    }

    /// Sends a killed worker never finished: failed attempts, retried or dead-lettered by policy.
    async fn recover(
        &self,
        stale: &[MessageRow],
        round: &mut Round,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let failure = DeliveryFailure::Transient {
            error: "worker stopped while sending".into(),
            retry_after_ms: None,
        };
        let mut outcomes: Vec<(&MessageRow, Outcome)> = Vec::with_capacity(stale.len());
        for row in stale {
            let retry = round
                .policy(&self.pipeline, &row.chain_id)
                .await?
                .policy
                .retry;
            outcomes.push((row, outcome::failed(row, &failure, &retry, now)));
        }
        outcome::settle_all(&self.pipeline, &outcomes, now.timestamp_micros()).await?;
        Ok(stale.len())
    }
}
