//! Deciding a claimed chunk set-based: per chain, the customers' consent (one query) and home-store
//! zones (one query, only when the chain's stores span several zones), the gate in memory (consent,
//! quiet hours in the zone of the customer's home store — deferred, not dropped), the caps of the whole
//! chunk at once (`caps::charge_all`), rendering from the round's compiled templates, then the sends,
//! several in flight. The outcomes are written by the caller in one transaction.

use std::collections::{BTreeMap, HashSet};

use super::bounded;
use super::caps::{self, CapOutcome};
use super::outcome::{self, Outcome};
use super::round::{RenderedMessage, Round};
use crate::domain::channel_limits::ChannelLimits;
use crate::domain::contacts;
use crate::domain::dedup::DedupKey;
use crate::domain::gate::{GateDecision, OutgoingMessage, SuppressionReason, gate};
use crate::domain::quiet_hours::QuietHours;
use crate::domain::retry::RetryPolicy;
use crate::error::Result;
use crate::providers::{OutboundMessage, ProviderError, Providers};
use crate::state::State;
use crate::storage::messages::MessageRow;
use crate::storage::policy::{self, Preferences};
use crate::storage::{facts, stores};
use chrono::{DateTime, Utc};

/// Provider calls in flight at once (a webhook provider waits on the network).
pub const SEND_CONCURRENCY: usize = 32;

/// How long a message waits for profile's stream to tell who its guest is (streams lag by
/// seconds; after this the message is rendered with what is known, or the template's defaults).
const AWAIT_GUEST_US: i64 = 10 * 60 * 1_000_000;
/// How soon a message waiting for its guest is tried again.
const AWAIT_GUEST_RETRY: chrono::Duration = chrono::Duration::seconds(2);

/// A message cleared to go: its row, rendered subject and body, and its chain's retry policy.
pub struct Ready<'a> {
    pub row: &'a MessageRow,
    rendered: RenderedMessage,
    /// The guest's address on the channel (empty: none known; staff messages).
    recipient: String,
    retry: RetryPolicy,
}

/// A decided chunk: the outcomes of the rows that are not sent (suppressed, deferred, dead…) and
/// the messages cleared to go, for the caller to hand to the provider and send.
pub struct Decided<'r> {
    pub outcomes: Vec<(&'r MessageRow, Outcome)>,
    pub ready: Vec<Ready<'r>>,
}

/// Decides each row of `rows` (claimed by this worker): an outcome, or ready to send.
pub async fn decide<'r>(
    state: &State,
    limits: &ChannelLimits,
    round: &mut Round,
    rows: &'r [MessageRow],
    now: DateTime<Utc>,
) -> Result<Decided<'r>> {
    let claimed: HashSet<&str> = rows.iter().map(|r| r.message_id.as_str()).collect();
    let mut chains: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, row) in rows.iter().enumerate() {
        chains.entry(row.chain_id.as_str()).or_default().push(index);
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; rows.len()];
    let mut ready = Vec::new();
    for (chain, indexes) in chains {
        let chain_policy = round.policy(state, chain).await?;
        let mut customers: Vec<&str> = indexes
            .iter()
            .map(|&i| rows[i].customer_id.as_str())
            .collect();
        customers.sort_unstable();
        customers.dedup();
        let preferences = policy::preferences_of(&state.db, chain, &customers).await?;
        let guests = facts::guests(&state.db, chain, &customers).await?;
        let zones = match chain_policy.policy.quiet_hours {
            Some(_) if chain_policy.zoned => {
                stores::customer_zones(&state.db, chain, &customers).await?
            }
            _ => Default::default(),
        };
        let defaults = Preferences::default();
        let mut passed = Vec::new();
        for &index in &indexes {
            let row = &rows[index];
            let outgoing = OutgoingMessage {
                channel: row.channel,
                purpose: row.purpose,
                dedup_key: DedupKey::from(row.dedup_key.as_str()),
                // The UNIQUE key already made this the only message of its occurrence.
                dedup_key_already_sent: false,
                expires_at: None,
            };
            // ARCHITECTURE.md "Delivery": quiet hours in the zone of the customer's home store.
            let quiet_hours = match chain_policy.policy.quiet_hours {
                Some(quiet) if chain_policy.zoned => {
                    let zone = zones
                        .get(&row.customer_id)
                        .copied()
                        .unwrap_or_else(stores::default_zone);
                    Some(QuietHours::new(quiet.start(), quiet.end(), zone).unwrap_or(quiet))
                }
                other => other,
            };
            // A guest other streams told of but profile not yet (its stream behind the one that
            // queued the message) is not rendered with blanks: the message waits, a while.
            if row.channel.reaches_customer()
                && guests
                    .get(&row.customer_id)
                    .is_some_and(|(facts, _)| !facts.known)
                && now.timestamp_micros().saturating_sub(row.created_at_us) < AWAIT_GUEST_US
            {
                outcomes[index] = Some(outcome::awaiting_guest(row, now + AWAIT_GUEST_RETRY));
                continue;
            }
            let consent = &preferences
                .get(&row.customer_id)
                .unwrap_or(&defaults)
                .consent;
            match gate(&outgoing, consent, quiet_hours.as_ref(), now) {
                GateDecision::Suppress(reason) => {
                    outcomes[index] = Some(outcome::suppressed(row, reason.as_str()));
                }
                GateDecision::Defer(until) => {
                    outcomes[index] = Some(outcome::deferred(row, until));
                }
                GateDecision::Send => passed.push(index),
            }
        }
        let passing: Vec<&MessageRow> = passed.iter().map(|&i| &rows[i]).collect();
        let charged =
            caps::charge_all(state, &chain_policy.policy, &passing, &claimed, now).await?;
        for (&index, cap) in passed.iter().zip(charged) {
            let row = &rows[index];
            if cap == CapOutcome::Reached {
                outcomes[index] = Some(outcome::suppressed(
                    row,
                    SuppressionReason::FrequencyCap.as_str(),
                ));
                continue;
            }
            let known = guests.get(&row.customer_id);
            let guest = known.map(|(_, guest)| guest);
            let recipient = match known {
                Some((facts, _)) if row.channel.reaches_customer() => {
                    contacts::recipient(row.channel, &facts.contacts)
                }
                _ => String::new(),
            };
            match round.render(state, row, guest, limits).await? {
                Ok(rendered) => ready.push(Ready {
                    row,
                    rendered,
                    recipient,
                    retry: chain_policy.policy.retry,
                }),
                Err(reason) => outcomes[index] = Some(outcome::dead(row, &reason)),
            }
        }
    }
    // Every row not ready has its outcome by now.
    Ok(Decided {
        outcomes: rows
            .iter()
            .zip(outcomes)
            .filter_map(|(row, out)| out.map(|out| (row, out)))
            .collect(),
        ready,
    })
}

/// Sends `ready` (already marked handed), several in flight; their outcomes.
pub async fn send_all<'r>(
    providers: &Providers,
    ready: Vec<Ready<'r>>,
    now: DateTime<Utc>,
) -> Vec<(&'r MessageRow, Outcome)> {
    let sends: Vec<_> = ready
        .into_iter()
        .map(|ready| send(providers, ready, now))
        .collect();
    bounded(sends, SEND_CONCURRENCY).await
}

/// The longest a provider's throttling answer holds a message back.
const MAX_THROTTLE_WAIT_MS: u64 = 7 * 24 * 3600 * 1000;

/// Hands one message to its channel's provider.
async fn send<'r>(
    providers: &Providers,
    ready: Ready<'r>,
    now: DateTime<Utc>,
) -> (&'r MessageRow, Outcome) {
    let row = ready.row;
    let outbound = OutboundMessage {
        chain_id: row.chain_id.clone(),
        message_id: row.message_id.clone(),
        customer_id: row.customer_id.clone(),
        staff_id: row.staff_id.clone(),
        channel: row.channel,
        subject: ready.rendered.subject.clone(),
        body: ready.rendered.body.clone(),
        campaign_id: row.campaign_id.clone(),
        automation_id: row.automation_id.clone(),
        recipient: ready.recipient,
        parameters: ready.rendered.parameters,
        provider_template_id: ready.rendered.provider_template_id,
        sign_name: ready.rendered.sign_name,
    };
    // Whom the provider's per-recipient limits count: the guest's address, or the staff member
    // a staff message goes to.
    let counted = if outbound.recipient.is_empty() {
        outbound.staff_id.clone()
    } else {
        outbound.recipient.clone()
    };
    let sent = match providers.resolve_limited(&row.chain_id, row.channel).await {
        Ok((provider, admission)) => {
            let admitted = match &admission {
                Some(admission) => admission.admit(&row.chain_id, row.channel, &counted).await,
                None => Ok(()),
            };
            match admitted {
                Ok(()) => {
                    let sent = provider.send(&outbound).await;
                    if let (Ok(_), Some(admission)) = (&sent, &admission) {
                        admission
                            .record_sent(&row.chain_id, row.channel, &counted)
                            .await;
                    }
                    sent
                }
                Err(wait) => {
                    let until = now + chrono::Duration::from_std(wait).unwrap_or_default();
                    return (row, outcome::throttled(row, until, "provider_limit"));
                }
            }
        }
        Err(error) => Err(error),
    };
    let out = match sent {
        Err(ProviderError::Throttled {
            error,
            retry_after_ms,
        }) => {
            // At most a week (a provider's daily limit asks a day).
            let wait = chrono::Duration::milliseconds(
                i64::try_from(retry_after_ms.min(MAX_THROTTLE_WAIT_MS)).unwrap_or(0),
            );
            // The provider's own limit: due again after its wait, with a little jitter so a
            // throttled batch does not come back all at once.
            let jitter = chrono::Duration::milliseconds(rand::random::<i64>().rem_euclid(250));
            outcome::throttled(
                row,
                Utc::now() + wait + jitter,
                &format!("provider_throttled: {error}"),
            )
        }
        Ok(provider_id) => outcome::sent(
            row,
            ready.rendered.subject.unwrap_or_default(),
            ready.rendered.body,
            provider_id,
        ),
        Err(error) => outcome::failed(row, &error.to_failure(), &ready.retry, now),
    };
    (row, out)
}
