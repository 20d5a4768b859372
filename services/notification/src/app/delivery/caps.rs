//! Frequency caps as ONE shared budget per customer per channel (every automation, campaign and manager
//! send counts, issue 7 "Never spam"), kept in coordination windows (`window_hit`, atomic across
//! replicas) and re-seeded from the messages table whenever the window's seed marker is missing, so a
//! Redis flush never lets a guest over the cap.
//!
//! A round charges its whole chunk at once: one query reads the counted messages of the chunk's
//! customers, windows are seeded only for customers who have any (a customer without counted messages
//! has nothing to seed, so a campaign to fresh guests costs one `window_hit` per message), and the
//! coordination calls of different customers run concurrently (pipelined on one Redis connection).
//! A customer's own messages are charged in order, so the oldest due wins the last slot.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::bounded;
use crate::error::Result;
use crate::state::State;
use crate::storage::messages::MessageRow;
use crate::storage::policy::{CapRule, ContactPolicy};
use crate::storage::queue::{self, CountedHit};
use chrono::{DateTime, Utc};

/// Coordination calls in flight at once per round.
const CONCURRENCY: usize = 128;

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

fn since_us(rule: &CapRule, now_us: i64) -> i64 {
    now_us - i64::try_from(window(rule).as_micros()).unwrap_or(i64::MAX / 2)
}

/// The rules of `policy` that apply to `row`.
fn rules_for<'p>(policy: &'p ContactPolicy, row: &MessageRow) -> Vec<&'p CapRule> {
    policy
        .caps
        .iter()
        .filter(|rule| rule.channel.is_none_or(|c| c == row.channel))
        .filter(|rule| {
            rule.for_channel(row.channel)
                .is_some_and(|cap| cap.applies_to(row.channel, row.purpose))
        })
        .collect()
}

/// Re-seeds the rule's window from `hits` when its marker is gone (expired or flushed).
async fn ensure_seeded(state: &State, key: &str, rule: &CapRule, hits: &[i64]) -> Result<()> {
    let marker = format!("seeded:{key}");
    if state.coord.get(&marker).await?.is_some() {
        return Ok(());
    }
    state.coord.window_seed(key, hits, window(rule)).await?;
    state.coord.set(&marker, "1", Some(window(rule))).await?;
    Ok(())
}

/// Charges each of `rows` (one chain, all claimed by this round and already counted in the
/// database) to every cap of `policy` that applies; `claimed` are every message id of the round,
/// which the windows get from these hits rather than from the seed. Outcomes in `rows` order.
pub async fn charge_all(
    state: &State,
    policy: &ContactPolicy,
    rows: &[&MessageRow],
    claimed: &HashSet<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<CapOutcome>> {
    let now_us = now.timestamp_micros();
    let rules: Vec<Vec<&CapRule>> = rows.iter().map(|row| rules_for(policy, row)).collect();
    let Some(oldest) = rules
        .iter()
        .flatten()
        .map(|rule| since_us(rule, now_us))
        .min()
    else {
        return Ok(vec![CapOutcome::Within; rows.len()]);
    };
    let Some(chain) = rows.first().map(|row| row.chain_id.as_str()) else {
        return Ok(Vec::new());
    };
    // Each customer's charged rows, in order.
    let mut customers: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, row) in rows.iter().enumerate() {
        if !rules[index].is_empty() {
            customers
                .entry(row.customer_id.as_str())
                .or_default()
                .push(index);
        }
    }
    let names: Vec<&str> = customers.keys().copied().collect();
    let hits = queue::counted_hits(&state.db, chain, &names, oldest, claimed).await?;
    let mut hits_of: BTreeMap<&str, Vec<&CountedHit>> = BTreeMap::new();
    for hit in &hits {
        hits_of
            .entry(hit.customer_id.as_str())
            .or_default()
            .push(hit);
    }
    // Seed the windows of customers with counted messages elsewhere (other rounds, other replicas).
    let mut seeds: BTreeMap<String, (&CapRule, Vec<i64>)> = BTreeMap::new();
    for (index, row) in rows.iter().enumerate() {
        let Some(theirs) = hits_of.get(row.customer_id.as_str()) else {
            continue;
        };
        for rule in &rules[index] {
            let since = since_us(rule, now_us);
            let ms: Vec<i64> = theirs
                .iter()
                .filter(|hit| rule.channel.is_none_or(|c| c == hit.channel))
                .filter(|hit| hit.counted_at_us >= since)
                .map(|hit| hit.counted_at_us / 1000)
                .collect();
            if !ms.is_empty() {
                seeds.insert(rule.window_key(chain, &row.customer_id), (rule, ms));
            }
        }
    }
    let seeding: Vec<_> = seeds
        .iter()
        .map(|(key, (rule, ms))| ensure_seeded(state, key, rule, ms))
        .collect();
    for seeded in bounded(seeding, CONCURRENCY).await {
        seeded?;
    }
    let charging: Vec<_> = customers
        .values()
        .map(|indexes| charge_customer(state, chain, rows, &rules, indexes))
        .collect();
    let mut outcomes = vec![CapOutcome::Within; rows.len()];
    for charged in bounded(charging, CONCURRENCY).await {
        for (index, outcome) in charged? {
            outcomes[index] = outcome;
        }
    }
    Ok(outcomes)
}

/// One customer's messages of the round, in order; each stops at the first cap reached.
async fn charge_customer(
    state: &State,
    chain: &str,
    rows: &[&MessageRow],
    rules: &[Vec<&CapRule>],
    indexes: &[usize],
) -> Result<Vec<(usize, CapOutcome)>> {
    let mut outcomes = Vec::with_capacity(indexes.len());
    for &index in indexes {
        let row = rows[index];
        let mut outcome = CapOutcome::Within;
        for rule in &rules[index] {
            let Some(cap) = rule.for_channel(row.channel) else {
                continue;
            };
            let key = rule.window_key(chain, &row.customer_id);
            let hit = state
                .coord
                .window_hit(&key, u64::from(cap.max_messages()), window(rule), 1)
                .await?;
            // The window denies when the count already fills the cap: the domain's `allows_another`.
            let count = u32::try_from(hit.count).unwrap_or(u32::MAX);
            if !hit.allowed && !cap.allows_another(count) {
                outcome = CapOutcome::Reached;
                break;
            }
        }
        outcomes.push((index, outcome));
    }
    Ok(outcomes)
}
