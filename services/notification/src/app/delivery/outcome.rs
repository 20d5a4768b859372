//! What happened to each claimed message, and writing a whole round of it at once: the rows
//! (`storage::settle`), their history and their `MessageStatusChanged` events in ONE transaction, so
//! a round costs a few statements whatever its size. A failure goes through the chain's retry policy
//! (backoff with full jitter, then a dead letter with its reason).

use chrono::{DateTime, Utc};

use super::{announced, status_event};
use crate::domain::retry::{DeadLetterReason, DeliveryFailure, RetryDecision, RetryPolicy};
use crate::error::Result;
use crate::state::State;
use crate::storage::messages::MessageRow;
use crate::storage::queue;
use crate::storage::settle::{self, Settlement};

/// A claimed message's end of round: its settlement and the history rows `(status, reason)` it
/// leaves, in order (a failure leaves `failed` then `queued` or `dead`).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub settlement: Settlement,
    pub history: Vec<(String, String)>,
}

fn outcome(row: &MessageRow, status: &str, reason: &str) -> Outcome {
    Outcome {
        settlement: Settlement {
            chain_id: row.chain_id.clone(),
            message_id: row.message_id.clone(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            uncount: true,
            ..Settlement::default()
        },
        history: vec![(status.to_owned(), reason.to_owned())],
    }
}

/// Not sent, for `reason` (consent, cap…); the claim's attempt is given back.
pub fn suppressed(row: &MessageRow, reason: &str) -> Outcome {
    let mut out = outcome(row, "suppressed", reason);
    out.settlement.refund_attempt = true;
    out
}

/// Held until the end of quiet hours; a deferral is not an attempt.
pub fn deferred(row: &MessageRow, until: DateTime<Utc>) -> Outcome {
    let mut out = outcome(row, "queued", "quiet_hours");
    out.settlement.next_attempt_at_us = Some(until.timestamp_micros());
    out.settlement.refund_attempt = true;
    out
}

/// Held until profile's stream tells who the guest is (not an attempt).
pub fn awaiting_guest(row: &MessageRow, until: DateTime<Utc>) -> Outcome {
    let mut out = outcome(row, "queued", "awaiting_guest");
    out.settlement.next_attempt_at_us = Some(until.timestamp_micros());
    out.settlement.refund_attempt = true;
    out
}

/// Over a provider limit (`providers::limits`, reason `provider_limit`) or refused by the provider
/// for its own (`provider_throttled: …`): queued again for `until`; the attempt is given back,
/// so however long the limits hold it the message is delayed, never dead-lettered for it.
pub fn throttled(row: &MessageRow, until: DateTime<Utc>, reason: &str) -> Outcome {
    let mut out = outcome(row, "queued", reason);
    out.settlement.next_attempt_at_us = Some(until.timestamp_micros());
    out.settlement.refund_attempt = true;
    out
}

/// Cannot ever be sent (template missing or not renderable).
pub fn dead(row: &MessageRow, reason: &str) -> Outcome {
    outcome(row, "dead", reason)
}

/// A claim whose worker stopped before handing it to the provider: queued again at once; it was
/// never attempted, so the attempt is given back and it stops counting toward caps.
pub fn released(row: &MessageRow, now: DateTime<Utc>) -> Outcome {
    let mut out = outcome(row, "queued", "claim_released");
    out.settlement.next_attempt_at_us = Some(now.timestamp_micros());
    out.settlement.refund_attempt = true;
    out
}

/// Handed to the provider by a worker that stopped before recording the answer, and the provider
/// cannot be asked: it may have reached the guest, so it is not sent again but held for review
/// (it stays counted toward caps).
pub fn unknown(row: &MessageRow, why: &str) -> Outcome {
    let mut out = outcome(row, "unknown", why);
    out.settlement.uncount = false;
    out
}

/// Accepted by the provider; it stays counted toward caps.
pub fn sent(row: &MessageRow, subject: String, body: String, provider_id: String) -> Outcome {
    let mut out = outcome(row, "sent", "");
    out.settlement.uncount = false;
    out.settlement.rendered = Some((subject, body));
    out.settlement.provider_message_id = Some(provider_id);
    out
}

/// A handed message the provider says it accepted (reconciled after its worker stopped).
pub fn reconciled_sent(row: &MessageRow, provider_id: String) -> Outcome {
    let mut out = outcome(row, "sent", "reconciled");
    out.settlement.uncount = false;
    out.settlement.provider_message_id = Some(provider_id);
    out
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

/// A failed attempt: `failed`, then re-queued after the policy's backoff or dead-lettered.
pub fn failed(
    row: &MessageRow,
    failure: &DeliveryFailure,
    retry: &RetryPolicy,
    now: DateTime<Utc>,
) -> Outcome {
    let error = match failure {
        DeliveryFailure::Transient { error, .. } | DeliveryFailure::Permanent { error } => {
            error.clone()
        }
    };
    let attempts = u32::try_from(row.attempts.max(1)).unwrap_or(1);
    let mut out = match retry.after_failure(attempts, failure, rand::random::<u64>()) {
        RetryDecision::RetryAfter { delay_ms } => {
            let mut out = outcome(row, "queued", "retry_scheduled");
            out.settlement.next_attempt_at_us = Some(
                now.timestamp_micros() + i64::try_from(delay_ms).unwrap_or(i64::MAX / 2) * 1000,
            );
            out
        }
        RetryDecision::DeadLetter(reason) => dead(row, &dead_letter_text(&reason)),
    };
    out.history.insert(0, ("failed".to_owned(), error));
    out
}

/// Writes `outcomes` (rows claimed by `worker`) with their history and events in one
/// transaction; returns how many were still ours to settle.
pub async fn settle_all(
    state: &State,
    outcomes: &[(&MessageRow, Outcome)],
    worker: &str,
    now_us: i64,
) -> Result<usize> {
    if outcomes.is_empty() {
        return Ok(0);
    }
    let settlements: Vec<Settlement> = outcomes.iter().map(|(_, o)| o.settlement.clone()).collect();
    let txn = maitre_kit::db::begin_write(&state.db).await?;
    let settled: std::collections::HashSet<String> =
        settle::apply(&txn, &settlements, worker, now_us)
            .await?
            .into_iter()
            .collect();
    let mut by_chain: std::collections::BTreeMap<&str, Vec<&(&MessageRow, Outcome)>> =
        Default::default();
    for item in outcomes
        .iter()
        .filter(|(row, _)| settled.contains(&row.message_id))
    {
        by_chain
            .entry(item.0.chain_id.as_str())
            .or_default()
            .push(item);
    }
    let mut any_event = false;
    for (chain, items) in &by_chain {
        let history: Vec<(String, String, String)> = items
            .iter()
            .flat_map(|(row, o)| {
                o.history.iter().map(|(status, reason)| {
                    (row.message_id.clone(), status.clone(), reason.clone())
                })
            })
            .collect();
        queue::add_history_all(&txn, chain, &history, now_us).await?;
        let events: Vec<_> = items
            .iter()
            .flat_map(|(row, o)| {
                o.history
                    .iter()
                    .filter(|(status, _)| announced(status))
                    .map(|(status, reason)| status_event(row, status, reason))
            })
            .collect();
        any_event |= !events.is_empty();
        state.events.append_all(&txn, chain, events).await?;
    }
    txn.commit().await?;
    if any_event {
        state.events.committed();
    }
    Ok(settled.len())
}
