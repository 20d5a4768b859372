//! Delivery status state machine: queued → sending → sent → delivered, with failed → (queued again for a
//! retry | dead). Only legal transitions are applied.
//!
//! Provider callbacks arrive out of order, so the machine is written for the truth they carry rather than
//! their arrival order:
//! - `delivered` wins from any non-delivered state: a send we timed out on (failed, queued for retry,
//!   even dead) may still have reached the guest, and recording that prevents a second message;
//! - a late acceptance for an earlier attempt while a retry waits in `queued` (or after giving up) moves
//!   to `sent` (the retry is then never claimed, so the guest is not messaged twice);
//! - a `failed` callback after `delivered`, or repeated callbacks, are stale and ignored, not errors;
//! - a worker claiming a message that is not queued is a real bug (double claim) and is illegal.

use thiserror::Error;

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Queued,
    Sending,
    /// Accepted by the provider.
    Sent,
    /// Confirmed on the guest's device / inbox. Terminal.
    Delivered,
    Failed,
    /// Given up; waits in the dead-letter queue for an operator.
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Dead => "dead",
        }
    }
}

/// What happened to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryEvent {
    /// A worker took the message to send it.
    Claimed,
    /// The provider accepted the send request.
    ProviderAccepted,
    /// The send request failed (error response or timeout).
    SendFailed,
    /// Provider callback: delivered.
    CallbackDelivered,
    /// Provider callback: not delivered.
    CallbackFailed,
    /// The retry policy scheduled another attempt.
    RetryScheduled,
    /// The retry policy gave up.
    DeadLettered,
    /// An operator re-queued a dead letter.
    OperatorRequeued,
}

/// The effect of an event on a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    Moved {
        from: DeliveryStatus,
        to: DeliveryStatus,
    },
    /// A duplicate or stale (out-of-order) event: recorded, status unchanged.
    Ignored { status: DeliveryStatus },
}

impl StatusChange {
    /// The status after the event.
    pub fn status(self) -> DeliveryStatus {
        match self {
            StatusChange::Moved { to, .. } => to,
            StatusChange::Ignored { status } => status,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("delivery status {} cannot take event {event:?}", from.as_str())]
pub struct IllegalTransition {
    pub from: DeliveryStatus,
    pub event: DeliveryEvent,
}

/// Applies `event` to a message in status `from`.
pub fn apply_delivery_event(
    from: DeliveryStatus,
    event: DeliveryEvent,
) -> Result<StatusChange, IllegalTransition> {
    use DeliveryEvent as E;
    use DeliveryStatus as S;
    let moved = |to| Ok(StatusChange::Moved { from, to });
    let ignored = Ok(StatusChange::Ignored { status: from });
    match (from, event) {
        (S::Queued, E::Claimed) => moved(S::Sending),
        (S::Sending, E::ProviderAccepted) => moved(S::Sent),
        (S::Sending | S::Sent, E::SendFailed | E::CallbackFailed) => moved(S::Failed),
        (S::Failed, E::RetryScheduled) => moved(S::Queued),
        (S::Failed, E::DeadLettered) => moved(S::Dead),
        (S::Dead, E::OperatorRequeued) => moved(S::Queued),
        // Delivery confirmed, however late: it is the truth about the guest's phone.
        (S::Queued | S::Sending | S::Sent | S::Failed | S::Dead, E::CallbackDelivered) => {
            moved(S::Delivered)
        }
        // An earlier attempt was accepted after all; keeps a queued retry from messaging twice.
        (S::Queued | S::Failed | S::Dead, E::ProviderAccepted) => moved(S::Sent),
        // Stale or repeated provider news.
        (S::Sent, E::ProviderAccepted) => ignored,
        (
            S::Delivered,
            E::ProviderAccepted | E::CallbackDelivered | E::CallbackFailed | E::SendFailed,
        ) => ignored,
        (S::Queued | S::Failed | S::Dead, E::CallbackFailed) => ignored,
        _ => Err(IllegalTransition { from, event }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeliveryEvent as E;
    use DeliveryStatus as S;

    fn run(events: &[DeliveryEvent]) -> Result<DeliveryStatus, IllegalTransition> {
        events.iter().try_fold(S::Queued, |status, &event| {
            apply_delivery_event(status, event).map(StatusChange::status)
        })
    }

    #[test]
    fn happy_path() {
        assert_eq!(
            run(&[E::Claimed, E::ProviderAccepted, E::CallbackDelivered]),
            Ok(S::Delivered)
        );
    }

    #[test]
    fn failure_retry_then_dead_letter() {
        let events = [
            E::Claimed,
            E::SendFailed,
            E::RetryScheduled,
            E::Claimed,
            E::SendFailed,
            E::DeadLettered,
        ];
        assert_eq!(run(&events), Ok(S::Dead));
        assert_eq!(
            run(&[
                E::Claimed,
                E::ProviderAccepted,
                E::CallbackFailed,
                E::RetryScheduled
            ]),
            Ok(S::Queued)
        );
    }

    #[test]
    fn delivered_after_failed_retry_wins() {
        // Timed out, retry queued, then the first attempt's delivery receipt arrives.
        assert_eq!(
            run(&[
                E::Claimed,
                E::SendFailed,
                E::RetryScheduled,
                E::CallbackDelivered
            ]),
            Ok(S::Delivered)
        );
        assert_eq!(
            run(&[E::Claimed, E::SendFailed, E::CallbackDelivered]),
            Ok(S::Delivered)
        );
        assert_eq!(
            run(&[
                E::Claimed,
                E::SendFailed,
                E::DeadLettered,
                E::CallbackDelivered
            ]),
            Ok(S::Delivered)
        );
        // Receipt before the send call returned.
        assert_eq!(run(&[E::Claimed, E::CallbackDelivered]), Ok(S::Delivered));
    }

    #[test]
    fn late_acceptance_cancels_the_pending_retry() {
        assert_eq!(
            run(&[
                E::Claimed,
                E::SendFailed,
                E::RetryScheduled,
                E::ProviderAccepted
            ]),
            Ok(S::Sent)
        );
        assert_eq!(
            apply_delivery_event(S::Sent, E::Claimed),
            Err(IllegalTransition {
                from: S::Sent,
                event: E::Claimed
            })
        );
    }

    #[test]
    fn stale_callbacks_after_delivery_are_ignored() {
        for event in [
            E::CallbackFailed,
            E::CallbackDelivered,
            E::ProviderAccepted,
            E::SendFailed,
        ] {
            assert_eq!(
                apply_delivery_event(S::Delivered, event),
                Ok(StatusChange::Ignored {
                    status: S::Delivered
                })
            );
        }
        assert_eq!(
            apply_delivery_event(S::Sent, E::ProviderAccepted),
            Ok(StatusChange::Ignored { status: S::Sent })
        );
        assert_eq!(
            apply_delivery_event(S::Failed, E::CallbackFailed),
            Ok(StatusChange::Ignored { status: S::Failed })
        );
    }

    #[test]
    fn illegal_transitions_are_rejected() {
        let illegal = [
            (S::Sending, E::Claimed),
            (S::Delivered, E::Claimed),
            (S::Delivered, E::RetryScheduled),
            (S::Queued, E::SendFailed),
            (S::Queued, E::DeadLettered),
            (S::Sent, E::RetryScheduled),
            (S::Dead, E::RetryScheduled),
            (S::Failed, E::Claimed),
            (S::Sending, E::OperatorRequeued),
        ];
        for (from, event) in illegal {
            assert_eq!(
                apply_delivery_event(from, event),
                Err(IllegalTransition { from, event }),
                "{from:?} + {event:?}"
            );
        }
    }

    #[test]
    fn operator_can_requeue_a_dead_letter() {
        assert_eq!(
            apply_delivery_event(S::Dead, E::OperatorRequeued),
            Ok(StatusChange::Moved {
                from: S::Dead,
                to: S::Queued
            })
        );
    }

    #[test]
    fn delivered_is_terminal_for_every_event() {
        let all = [
            E::Claimed,
            E::ProviderAccepted,
            E::SendFailed,
            E::CallbackDelivered,
            E::CallbackFailed,
            E::RetryScheduled,
            E::DeadLettered,
            E::OperatorRequeued,
        ];
        for event in all {
            let after = apply_delivery_event(S::Delivered, event)
                .map(StatusChange::status)
                .unwrap_or(S::Delivered);
            assert_eq!(after, S::Delivered, "{event:?}");
        }
    }
}
