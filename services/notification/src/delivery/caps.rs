//! Frequency caps as ONE shared budget per customer per channel (every automation, campaign and manager
//! send counts, issue 7 "Never spam"), kept in coordination windows (`window_hit`, atomic across
//! replicas) and re-seeded from the messages table whenever the window's seed marker is missing, so a
//! Redis flush never lets a guest over the cap.

use std::time::Duration;

use crate::domain::gate::OutgoingMessage;
use crate::error::Result;
use crate::storage::messages::MessageRow;
use crate::storage::policy::{CapRule, ContactPolicy};
use crate::storage::queue;

use super::Pipeline;

/// The outcome of charging a message to the customer's cap windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapOutcome {
    /// Counted in every applicable window.
    Within,
    /// A cap is reached: the message is suppressed with `frequency_cap`.
    Reached,
}

fn window(rule: &CapRule) -> Duration {
    Duration::from_secs(u64::from(rule.window_hours) * 3600)
}

/// Re-seeds the rule's window from the database when its marker is gone (expired or flushed).
async fn ensure_seeded(
    pipeline: &Pipeline,
    rule: &CapRule,
    row: &MessageRow,
    now_us: i64,
) -> Result<()> {
    let key = rule.window_key(&row.chain_id, &row.customer_id);
    let marker = format!("seeded:{key}");
    if pipeline.coord.get(&marker).await?.is_some() {
        return Ok(());
    }
    let window = window(rule);
    let since_us = now_us - i64::try_from(window.as_micros()).unwrap_or(i64::MAX);
    let hits = queue::counted_hits_ms(
        &pipeline.db,
        &row.chain_id,
        &row.customer_id,
        rule.channel,
        since_us,
        &row.message_id,
    )
    .await?;
    pipeline.coord.window_seed(&key, &hits, window).await?;
    pipeline.coord.set(&marker, "1", Some(window)).await?;
    Ok(())
}

/// Charges `message` to every cap of `policy` that applies to it. The caller has already recorded the
/// message as counted (`counted_at_us`) so a concurrent re-seed includes it (erring toward fewer sends).
pub async fn charge(
    pipeline: &Pipeline,
    policy: &ContactPolicy,
    row: &MessageRow,
    message: &OutgoingMessage,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<CapOutcome> {
    for rule in &policy.caps {
        if rule.channel.is_some_and(|c| c != row.channel) {
            continue;
        }
        let Some(cap) = rule.for_channel(row.channel) else {
            continue;
        };
        if !cap.applies_to(message.channel, message.purpose) {
            continue;
        }
        ensure_seeded(pipeline, rule, row, now.timestamp_micros()).await?;
        let key = rule.window_key(&row.chain_id, &row.customer_id);
        let hit = pipeline
            .coord
            .window_hit(&key, u64::from(cap.max_messages()), window(rule), 1)
            .await?;
        // The window denies when the count already fills the cap: the domain's `allows_another`.
        let count = u32::try_from(hit.count).unwrap_or(u32::MAX);
        if !hit.allowed && !cap.allows_another(count) {
            return Ok(CapOutcome::Reached);
        }
    }
    Ok(CapOutcome::Within)
}
