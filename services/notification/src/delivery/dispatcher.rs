//! The dispatcher loop: claims due messages (`UPDATE … WHERE status = 'queued'`, so two replicas never
//! both send one), gates them (consent, frequency caps, quiet hours in the zone of the customer's home
//! store — deferred, not dropped), renders, sends, and applies the retry policy (backoff with full
//! jitter, then a dead letter with its reason).
//! Messages a killed worker left in `sending` are recovered as failed attempts after a lease.

use std::{collections::HashMap, future::Future, time::Duration};

use chrono::{DateTime, Utc};

use super::Pipeline;
use super::caps::{self, CapOutcome};
use super::provider::{OutboundMessage, Providers};
use crate::domain::channel_limits::ChannelLimits;
use crate::domain::dedup::DedupKey;
use crate::domain::gate::{CapState, GateDecision, OutgoingMessage, gate};
use crate::domain::quiet_hours::QuietHours;
use crate::domain::retry::{DeadLetterReason, DeliveryFailure, RetryDecision};
use crate::domain::status::{DeliveryEvent, DeliveryStatus, apply_delivery_event};
use crate::domain::template_vars::{TemplateValues, TemplateVariable};
use crate::error::Result;
use crate::storage::messages::{self, MessageRow, RowUpdate};
use crate::storage::policy::ContactPolicy;
use crate::storage::{policy, queue, stores, templates};

/// Tuning of a dispatcher.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Messages claimed per round.
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
            batch: 200,
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

/// A chain's contact policy and whether any of its stores is outside the default zone (when none is,
/// quiet hours need no per-customer zone look-up).
#[derive(Clone)]
struct ChainPolicy {
    policy: ContactPolicy,
    zoned: bool,
}

/// The chains' contact policies, read once per round (a round takes well under a second, so a policy
/// or store zone change applies from the next round).
type PolicyCache = HashMap<String, ChainPolicy>;

fn us(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

fn dead_letter_text(reason: &DeadLetterReason) -> String {
    match reason {
        DeadLetterReason::AttemptsExhausted {
            attempts,
            last_error,
        } => format!("attempts_exhausted after {attempts}: {last_error}"),
        DeadLetterReason::PermanentFailure { error } => format!("permanent_failure: {error}"),
    }
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

    /// One round at `now`: recovers abandoned sends, then handles due messages. Returns how many
    /// messages this round decided.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<usize> {
        let now_us = now.timestamp_micros();
        let mut policies = PolicyCache::new();
        let stale = queue::stale_sending(
            &self.pipeline.db,
            now_us - us(self.config.sending_lease),
            self.config.batch,
        )
        .await?;
        for row in &stale {
            self.after_failure(
                row,
                &DeliveryFailure::Transient {
                    error: "worker stopped while sending".into(),
                    retry_after_ms: None,
                },
                now,
                &mut policies,
            )
            .await?;
        }
        let due = queue::due(&self.pipeline.db, now_us, self.config.batch).await?;
        let mut handled = stale.len();
        for row in due {
            if !queue::claim(&self.pipeline.db, &row.message_id, now_us).await? {
                continue;
            }
            let row = MessageRow {
                attempts: row.attempts + 1,
                ..row
            };
            self.decide(&row, now, &mut policies).await?;
            handled += 1;
        }
        Ok(handled)
    }

    /// Gate, render, send one claimed message.
    async fn policy(&self, policies: &mut PolicyCache, chain_id: &str) -> Result<ChainPolicy> {
        if let Some(policy) = policies.get(chain_id) {
            return Ok(policy.clone());
        }
        let db = &self.pipeline.db;
        let policy = ChainPolicy {
            policy: policy::contact_policy(db, chain_id).await?,
            zoned: stores::chain_zones(db, chain_id).await?.len() > 1,
        };
        policies.insert(chain_id.to_owned(), policy.clone());
        Ok(policy)
    }

    async fn decide(
        &self,
        row: &MessageRow,
        now: DateTime<Utc>,
        policies: &mut PolicyCache,
    ) -> Result<()> {
        let now_us = now.timestamp_micros();
        let pipeline = &self.pipeline;
        let ChainPolicy {
            policy: contact_policy,
            zoned,
        } = self.policy(policies, &row.chain_id).await?;
        let preferences =
            policy::preferences(&pipeline.db, &row.chain_id, &row.customer_id).await?;
        let outgoing = OutgoingMessage {
            channel: row.channel,
            purpose: row.purpose,
            dedup_key: DedupKey::from(row.dedup_key.as_str()),
            // The UNIQUE key already made this the only message of its occurrence.
            dedup_key_already_sent: false,
            expires_at: None,
        };
        let quiet_hours = match contact_policy.quiet_hours {
            Some(quiet) if zoned => Some(self.customer_quiet_hours(quiet, row).await?),
            other => other,
        };
        let decision = gate(
            &outgoing,
            &preferences.consent,
            &CapState::default(),
            quiet_hours.as_ref(),
            now,
        );
        match decision {
            GateDecision::Suppress(reason) => {
                let update = RowUpdate {
                    refund_attempt: true,
                    ..RowUpdate::default()
                };
                pipeline
                    .transition(
                        row,
                        Some("sending"),
                        "suppressed",
                        reason.as_str(),
                        &update,
                        now_us,
                    )
                    .await?;
                return Ok(());
            }
            GateDecision::Defer(until) => {
                let update = RowUpdate {
                    next_attempt_at_us: Some(until.timestamp_micros()),
                    refund_attempt: true,
                    ..RowUpdate::default()
                };
                pipeline
                    .transition(
                        row,
                        Some("sending"),
                        "queued",
                        "quiet_hours",
                        &update,
                        now_us,
                    )
                    .await?;
                return Ok(());
            }
            GateDecision::Send => {}
        }
        // Counted before charging, so a re-seed after a flush sees it (never over the cap).
        let counted = RowUpdate {
            counted_at_us: Some(Some(now_us)),
            ..RowUpdate::default()
        };
        messages::set_status(
            &pipeline.db,
            &row.chain_id,
            &row.message_id,
            Some("sending"),
            "sending",
            "",
            &counted,
            now_us,
        )
        .await?;
        if caps::charge(pipeline, &contact_policy, row, &outgoing, now).await?
            == CapOutcome::Reached
        {
            let update = RowUpdate {
                counted_at_us: Some(None),
                refund_attempt: true,
                ..RowUpdate::default()
            };
            pipeline
                .transition(
                    row,
                    Some("sending"),
                    "suppressed",
                    "frequency_cap",
                    &update,
                    now_us,
                )
                .await?;
            return Ok(());
        }
        let rendered = match self.render(row).await? {
            Ok(rendered) => rendered,
            Err(reason) => {
                let update = RowUpdate {
                    counted_at_us: Some(None),
                    ..RowUpdate::default()
                };
                pipeline
                    .transition(row, Some("sending"), "dead", &reason, &update, now_us)
                    .await?;
                return Ok(());
            }
        };
        let outbound = OutboundMessage {
            chain_id: row.chain_id.clone(),
            message_id: row.message_id.clone(),
            customer_id: row.customer_id.clone(),
            staff_id: row.staff_id.clone(),
            channel: row.channel,
            subject: rendered.0.clone(),
            body: rendered.1.clone(),
            campaign_id: row.campaign_id.clone(),
            automation_id: row.automation_id.clone(),
        };
        let result = self
            .providers
            .for_channel(row.channel)
            .send(&outbound)
            .await;
        match result {
            Ok(provider_id) => {
                let status =
                    apply_delivery_event(DeliveryStatus::Sending, DeliveryEvent::ProviderAccepted)
                        .map(|c| c.status())
                        .unwrap_or(DeliveryStatus::Sent);
                let update = RowUpdate {
                    rendered: Some((rendered.0.unwrap_or_default(), rendered.1)),
                    provider_message_id: Some(provider_id),
                    ..RowUpdate::default()
                };
                pipeline
                    .transition(row, Some("sending"), status.as_str(), "", &update, now_us)
                    .await?;
            }
            Err(error) => {
                self.after_failure(row, &error.to_failure(), now, policies)
                    .await?;
            }
        }
        Ok(())
    }

    /// The chain's quiet window judged in the zone of the customer's home store (ARCHITECTURE.md
    /// "Delivery": quiet hours in store-local time).
    async fn customer_quiet_hours(
        &self,
        quiet: QuietHours,
        row: &MessageRow,
    ) -> Result<QuietHours> {
        let zone =
            stores::customer_zone(&self.pipeline.db, &row.chain_id, &row.customer_id).await?;
        Ok(QuietHours::new(quiet.start(), quiet.end(), zone).unwrap_or(quiet))
    }

    /// Renders the stored variables with the message's template; `Err` carries the dead-letter reason.
    async fn render(
        &self,
        row: &MessageRow,
    ) -> Result<std::result::Result<(Option<String>, String), String>> {
        let Some(stored) =
            templates::get(&self.pipeline.db, &row.chain_id, &row.template_id).await?
        else {
            return Ok(Err(format!("template_missing: {}", row.template_id)));
        };
        let template = stored.compile()?;
        let mut values = TemplateValues::new();
        for (path, value) in &row.variables {
            if let Some(variable) = TemplateVariable::from_path(path) {
                values.set(variable, value.clone());
            }
        }
        Ok(template
            .render(&values, &self.config.limits)
            .map(|r| (r.subject, r.body))
            .map_err(|e| format!("render_failed: {e}")))
    }

    /// A failed attempt: retry after the policy's backoff, or dead-letter with the reason.
    async fn after_failure(
        &self,
        row: &MessageRow,
        failure: &DeliveryFailure,
        now: DateTime<Utc>,
        policies: &mut PolicyCache,
    ) -> Result<()> {
        let now_us = now.timestamp_micros();
        let pipeline = &self.pipeline;
        let contact_policy = self.policy(policies, &row.chain_id).await?.policy;
        let error = match failure {
            DeliveryFailure::Transient { error, .. } | DeliveryFailure::Permanent { error } => {
                error.clone()
            }
        };
        // Sending → failed (history), then the policy decides.
        if !pipeline
            .transition(
                row,
                Some("sending"),
                "failed",
                &error,
                &RowUpdate::default(),
                now_us,
            )
            .await?
        {
            return Ok(());
        }
        let attempts = u32::try_from(row.attempts.max(1)).unwrap_or(1);
        match contact_policy
            .retry
            .after_failure(attempts, failure, rand::random::<u64>())
        {
            RetryDecision::RetryAfter { delay_ms } => {
                let update = RowUpdate {
                    next_attempt_at_us: Some(
                        now_us + i64::try_from(delay_ms).unwrap_or(i64::MAX / 2) * 1000,
                    ),
                    counted_at_us: Some(None),
                    ..RowUpdate::default()
                };
                pipeline
                    .transition(
                        row,
                        Some("failed"),
                        "queued",
                        "retry_scheduled",
                        &update,
                        now_us,
                    )
                    .await?;
            }
            RetryDecision::DeadLetter(reason) => {
                let update = RowUpdate {
                    counted_at_us: Some(None),
                    ..RowUpdate::default()
                };
                pipeline
                    .transition(
                        row,
                        Some("failed"),
                        "dead",
                        &dead_letter_text(&reason),
                        &update,
                        now_us,
                    )
                    .await?;
            }
        }
        Ok(())
    }
}
