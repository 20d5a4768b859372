//! The action worker: claims due queued actions (`UPDATE … WHERE status = 'queued'`, so two replicas
//! never both perform one), performs them after the consumer's commit, and applies the chain's retry
//! policy like the message dispatcher (backoff with full jitter, then a dead letter with its reason).
//! Actions a killed worker left `running` are retried after a lease.

use std::{future::Future, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};

use super::{FollowUpPlans, QueuedAction, WebhookCalls};
use crate::domain::retry::{DeadLetterReason, DeliveryFailure, RetryDecision};
use crate::error::Result;
use crate::providers::ProviderError;
use crate::state::State;
use crate::storage::actions::{self, ActionRow};
use crate::storage::policy;

/// The longest wait between idle rounds: an action (a reminder, a webhook) due while the worker
/// idles starts at most this late.
const IDLE_POLL_CAP: Duration = Duration::from_secs(2);

/// Tuning of an action worker.
#[derive(Debug, Clone)]
pub struct ActionWorkerConfig {
    /// Actions claimed per round.
    pub batch: u64,
    /// Re-check this often after a busy round, then less often while rounds stay idle.
    pub poll: Duration,
    /// An action claimed longer ago than this by a worker that never finished is retried.
    pub running_lease: Duration,
}

impl Default for ActionWorkerConfig {
    fn default() -> Self {
        Self {
            batch: 100,
            poll: Duration::from_millis(500),
            running_lease: Duration::from_secs(300),
        }
    }
}

/// One replica's action worker.
#[derive(Clone)]
pub struct ActionWorker {
    state: State,
    follow_ups: Arc<dyn FollowUpPlans>,
    webhooks: Arc<dyn WebhookCalls>,
    config: ActionWorkerConfig,
}

fn us(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// The stored dead-letter reason (the same wording as the message dispatcher's).
fn dead_letter_text(reason: &DeadLetterReason) -> String {
    match reason {
        DeadLetterReason::AttemptsExhausted {
            attempts,
            last_error,
        } => format!("attempts_exhausted after {attempts}: {last_error}"),
        DeadLetterReason::PermanentFailure { error } => format!("permanent_failure: {error}"),
    }
}

impl ActionWorker {
    /// A worker performing follow-up plans through `follow_ups` and webhook calls through `webhooks`.
    pub fn new(
        state: State,
        follow_ups: Arc<dyn FollowUpPlans>,
        webhooks: Arc<dyn WebhookCalls>,
        config: ActionWorkerConfig,
    ) -> Self {
        Self {
            state,
            follow_ups,
            webhooks,
            config,
        }
    }

    /// Runs until `shutdown`: a round every `poll` (immediately again while busy), slowing down
    /// to one every [`IDLE_POLL_CAP`] while rounds stay idle.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut poll = crate::app::idle::IdlePoll::new(self.config.poll, IDLE_POLL_CAP);
        loop {
            let busy = match self.run_once(Utc::now()).await {
                Ok(handled) => handled > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "action worker round failed");
                    false
                }
            };
            let pause = if busy {
                poll.reset();
                Duration::ZERO
            } else {
                poll.idle()
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One round at `now`: recovers abandoned actions, then performs due ones. Returns how many
    /// actions this round decided.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<usize> {
        let now_us = now.timestamp_micros();
        let db = &self.state.db;
        let stale = actions::stale_running(
            db,
            now_us - us(self.config.running_lease),
            self.config.batch,
        )
        .await?;
        for row in &stale {
            let failure = ProviderError::Transient {
                error: "worker stopped while performing".into(),
                retry_after_ms: None,
            };
            self.after(row, Err(failure), now).await?;
        }
        let mut handled = stale.len();
        for row in actions::due(db, now_us, self.config.batch).await? {
            if !actions::claim(db, &row.action_id, now_us).await? {
                continue;
            }
            let row = ActionRow {
                attempts: row.attempts + 1,
                ..row
            };
            let outcome = self.perform(&row).await;
            self.after(&row, outcome, now).await?;
            handled += 1;
        }
        Ok(handled)
    }

    async fn perform(&self, row: &ActionRow) -> std::result::Result<String, ProviderError> {
        let action: QueuedAction =
            serde_json::from_str(&row.payload).map_err(|e| ProviderError::Permanent {
                error: format!("unreadable action payload: {e}"),
            })?;
        match action {
            QueuedAction::FollowUp(plan) => {
                self.follow_ups
                    .create(&row.chain_id, &row.automation_id, &plan)
                    .await
            }
            QueuedAction::Webhook(call) => self.webhooks.call(&call, &row.dedup_key).await,
        }
    }

    /// Records the outcome of an attempt: done, a retry after the policy's backoff, or a dead letter.
    async fn after(
        &self,
        row: &ActionRow,
        outcome: std::result::Result<String, ProviderError>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now_us = now.timestamp_micros();
        let db = &self.state.db;
        let failure = match outcome {
            Ok(result) => {
                actions::finish(db, &row.action_id, "done", "", &result, now_us, now_us).await?;
                return Ok(());
            }
            Err(error) => error.to_failure(),
        };
        let error = match &failure {
            DeliveryFailure::Transient { error, .. } | DeliveryFailure::Permanent { error } => {
                error.clone()
            }
        };
        let retry = policy::contact_policy(db, &row.chain_id).await?.retry;
        let attempts = u32::try_from(row.attempts.max(1)).unwrap_or(1);
        match retry.after_failure(attempts, &failure, rand::random::<u64>()) {
            RetryDecision::RetryAfter { delay_ms } => {
                let next_us = now_us + i64::try_from(delay_ms).unwrap_or(i64::MAX / 2) * 1000;
                tracing::info!(action = %row.action_id, error = %error, "action failed; retry scheduled");
                actions::finish(db, &row.action_id, "queued", &error, "", next_us, now_us).await?;
            }
            RetryDecision::DeadLetter(reason) => {
                let reason = dead_letter_text(&reason);
                tracing::warn!(action = %row.action_id, reason = %reason, "action dead-lettered");
                actions::finish(db, &row.action_id, "dead", &reason, "", now_us, now_us).await?;
            }
        }
        Ok(())
    }
}
