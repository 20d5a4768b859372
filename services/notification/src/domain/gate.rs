//! The send gate: the last pure decision before a message reaches a provider — send now, defer past quiet
//! hours, or suppress with a named reason (ARCHITECTURE.md "Delivery": consent and opt-out, frequency
//! caps, quiet hours in store-local time, de-duplication keys; seed 002 §3: fewer, relevant messages).
//!
//! The service layer gathers the inputs (consent, seen keys) and re-runs the gate when a deferred message
//! comes due; the frequency cap is charged after it passes (`app/delivery/caps.rs`).

use chrono::{DateTime, Utc};

use super::channel::{Channel, MessagePurpose};
use super::consent::{ConsentRefusal, ConsentState};
use super::dedup::DedupKey;
use super::quiet_hours::QuietHours;

/// The message as the gate sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub channel: Channel,
    pub purpose: MessagePurpose,
    pub dedup_key: DedupKey,
    /// Whether a message with `dedup_key` was already sent (or is in flight).
    pub dedup_key_already_sent: bool,
    /// After this instant the message is pointless (a birthday greeting after the birthday).
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why a message is not sent. Reasons are stored with the message and shown to operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SuppressionReason {
    /// Marketing to a guest who never opted in on this channel.
    NoConsent,
    /// Marketing to a guest who opted out (e.g. replied "TD").
    OptedOut,
    /// The guest already received the channel's cap within the window.
    FrequencyCap,
    /// This occurrence was already messaged to this recipient.
    Duplicate,
    /// The message expired before it could be sent, or would only be sendable after expiry.
    Expired,
}

impl SuppressionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionReason::NoConsent => "no_consent",
            SuppressionReason::OptedOut => "opted_out",
            SuppressionReason::FrequencyCap => "frequency_cap",
            SuppressionReason::Duplicate => "duplicate",
            SuppressionReason::Expired => "expired",
        }
    }
}

/// The gate's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateDecision {
    Send,
    /// Hold until this instant (end of quiet hours), then gate again.
    Defer(DateTime<Utc>),
    Suppress(SuppressionReason),
}

/// Decides whether `message` goes out at `now`. Checks run cheapest-to-explain first: duplicate, expiry,
/// consent, then quiet hours (the only check that defers rather than suppresses). Frequency caps come
/// after the gate, in `app/delivery/caps.rs`: a cap is one budget shared by every replica, so deciding it
/// and counting the message must be one atomic step in coordination, not a pure check here.
pub fn gate(
    message: &OutgoingMessage,
    consent: &ConsentState,
    quiet_hours: Option<&QuietHours>,
    now: DateTime<Utc>,
) -> GateDecision {
    if message.dedup_key_already_sent {
        return GateDecision::Suppress(SuppressionReason::Duplicate);
    }
    if message
        .expires_at
        .is_some_and(|expires_at| now >= expires_at)
    {
        return GateDecision::Suppress(SuppressionReason::Expired);
    }
    if let Err(refusal) = consent.allows(message.channel, message.purpose) {
        return GateDecision::Suppress(match refusal {
            ConsentRefusal::NoConsent => SuppressionReason::NoConsent,
            ConsentRefusal::OptedOut => SuppressionReason::OptedOut,
        });
    }
    let respects_quiet_hours =
        message.channel.reaches_customer() && message.purpose != MessagePurpose::Transactional;
    match quiet_hours
        .filter(|_| respects_quiet_hours)
        .and_then(|quiet| quiet.defer_until(now))
    {
        Some(until)
            if message
                .expires_at
                .is_some_and(|expires_at| until >= expires_at) =>
        {
            GateDecision::Suppress(SuppressionReason::Expired)
        }
        Some(until) => GateDecision::Defer(until),
        None => GateDecision::Send,
    }
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;
