//! Recovering abandoned claims (issue 19 item 7): messages claimed by a worker whose lease lapsed
//! (killed, or restarted under the same replica name), or left by a failed round of this worker.
//! They are adopted first (so two recovering replicas take disjoint sets), then:
//! - never handed to the provider: queued again at once, the attempt given back — nothing left;
//! - handed but no answer recorded: the provider is asked by the message id (the idempotency key
//!   the send carried); accepted → `sent`, never received → queued again, and when it cannot
//!   tell → `unknown`, held for review. Such a message is never blindly sent a second time.

use chrono::{DateTime, Utc};

use super::outcome::{self, Outcome};
use super::round::Round;
use crate::error::Result;
use crate::providers::{HandedMessage, Providers, Reconciliation};
use crate::state::State;
use crate::storage::claims::{self, AbandonedClaim};
use crate::storage::messages::MessageRow;

/// Why a message's outcome is unknown (the reason shown with the `unknown` status).
pub const UNKNOWN_REASON: &str = "outcome_unknown: handed to the provider by a worker that stopped before its answer; review before resending";

/// Recovers up to `limit` abandoned claims for `worker`; returns how many were settled.
pub async fn recover(
    state: &State,
    providers: &Providers,
    worker: &str,
    round: &mut Round,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<usize> {
    let now_us = now.timestamp_micros();
    let abandoned = claims::abandoned(&state.db, worker, now_us, limit).await?;
    if abandoned.is_empty() {
        return Ok(0);
    }
    let others: Vec<AbandonedClaim> = abandoned
        .iter()
        .filter(|c| c.claimed_by != worker)
        .cloned()
        .collect();
    let mut adopted: std::collections::HashSet<String> = claims::adopt(&state.db, worker, &others)
        .await?
        .into_iter()
        .collect();
    adopted.extend(
        abandoned
            .iter()
            .filter(|c| c.claimed_by == worker)
            .map(|c| c.row.message_id.clone()),
    );
    let mine: Vec<&AbandonedClaim> = abandoned
        .iter()
        .filter(|c| adopted.contains(&c.row.message_id))
        .collect();
    let mut outcomes: Vec<(&MessageRow, Outcome)> = Vec::with_capacity(mine.len());
    for claim in mine {
        let out = if !claim.handed {
            outcome::released(&claim.row, now)
        } else {
            reconcile(state, providers, round, &claim.row, now).await?
        };
        outcomes.push((&claim.row, out));
    }
    let settled = outcome::settle_all(state, &outcomes, worker, now_us).await?;
    if settled > 0 {
        tracing::info!(settled, "abandoned send claims recovered");
    }
    Ok(settled)
}

/// The outcome of a message handed to the provider with no answer recorded.
async fn reconcile(
    state: &State,
    providers: &Providers,
    round: &mut Round,
    row: &MessageRow,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let handed = HandedMessage {
        chain_id: row.chain_id.clone(),
        message_id: row.message_id.clone(),
        customer_id: row.customer_id.clone(),
        channel: row.channel,
    };
    let answer = match providers.resolve(&row.chain_id, row.channel).await {
        Ok(provider) => provider.reconcile(&handed).await,
        // The account cannot be read now: the outcome stays unknown, for review.
        Err(_) => Reconciliation::Unknown,
    };
    Ok(match answer {
        Reconciliation::Accepted(provider_id) => outcome::reconciled_sent(row, provider_id),
        Reconciliation::NotReceived => {
            // A real attempt that did not reach the provider: a failure under the retry policy.
            let retry = round.policy(state, &row.chain_id).await?.policy.retry;
            let failure = crate::domain::retry::DeliveryFailure::Transient {
                error: "the provider never received the message".into(),
                retry_after_ms: None,
            };
            outcome::failed(row, &failure, &retry, now)
        }
        Reconciliation::Unknown => outcome::unknown(row, UNKNOWN_REASON),
    })
}
