//! Counting a provider account's limits (`domain::provider_limits`) across replicas, in the
//! service's coordination (Redis in production, in-process embedded): the account's call rate
//! (`rate_hit`, GCRA) and each recipient's messages per minute, hour and day (`window_hit`, exact
//! sliding windows). A message over a limit is not sent: [`Admission::admit`] answers how long it
//! must wait, and the dispatcher re-queues it for then (`outcome::throttled`).
//!
//! Keys name the chain, channel and a hash of the recipient — never the phone number itself.
//! Losing the windows (a Redis flush) can at worst let a provider's own limit answer instead,
//! which delays the message the same way.

use std::sync::Arc;
use std::time::Duration;

use maitre_kit::coord::Coordination;
use sha2::{Digest, Sha256};

use crate::domain::channel::Channel;
use crate::domain::provider_limits::ProviderLimits;

/// The ceiling of a recorded send's hit: recording never refuses.
const RECORD_CEILING: u64 = 1_000_000;

/// An account's limits and where they are counted.
#[derive(Clone)]
pub struct Admission {
    pub coord: Arc<dyn Coordination>,
    pub limits: ProviderLimits,
}

/// The recipient's part of a key: the first 16 bytes of its SHA-256, hex.
fn recipient_key(recipient: &str) -> String {
    hex::encode(&Sha256::digest(recipient.as_bytes())[..16])
}

impl Admission {
    fn recipient_base(chain: &str, channel: Channel, recipient: &str) -> String {
        format!("plimit:{chain}:{channel}:to:{}", recipient_key(recipient))
    }

    /// Whether one message of `chain` on `channel` to `recipient` (empty: none known, only the
    /// rate applies) may go now: counts it against the account's call rate and looks at the
    /// recipient's windows; `Err(wait)` when a limit is reached. The recipient's windows count
    /// only what the provider accepted ([`Admission::record_sent`]), as the provider's own limits
    /// do — a throttled or failed send spends none of them. A coordination outage admits: the
    /// provider's own limit answers stay the backstop.
    pub async fn admit(
        &self,
        chain: &str,
        channel: Channel,
        recipient: &str,
    ) -> Result<(), Duration> {
        let coord = &self.coord;
        let limits = &self.limits;
        if limits.qps > 0 {
            let key = format!("plimit:{chain}:{channel}:qps");
            match coord
                .rate_hit(&key, limits.qps, Duration::from_secs(1))
                .await
            {
                Ok(decision) if !decision.allowed => return Err(decision.retry_after),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "provider rate limit not counted"),
            }
        }
        if recipient.is_empty() {
            return Ok(());
        }
        let base = Self::recipient_base(chain, channel, recipient);
        for (name, limit, window) in limits.recipient_windows() {
            let key = format!("{base}:{name}");
            // A hit of cost 1 that does not fit is refused and counts nothing: its wait is
            // when the oldest message leaves the window. One that fits is looked at only
            // (cost 0): it is counted once the provider accepts the message.
            match coord.window_hit(&key, limit, window, 0).await {
                Ok(decision) if decision.count >= limit => {
                    let denied = coord.window_hit(&key, limit, window, 1).await;
                    return Err(match denied {
                        Ok(d) if !d.allowed => d.retry_after.max(Duration::from_millis(1)),
                        _ => Duration::from_secs(1),
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "provider recipient limit not read");
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Counts a message the provider accepted in the recipient's windows.
    pub async fn record_sent(&self, chain: &str, channel: Channel, recipient: &str) {
        if recipient.is_empty() {
            return;
        }
        let base = Self::recipient_base(chain, channel, recipient);
        for (name, _, window) in self.limits.recipient_windows() {
            let key = format!("{base}:{name}");
            // Counted even past the limit (another replica's send between the look and this):
            // the next message then waits the longer.
            if let Err(e) = self.coord.window_hit(&key, RECORD_CEILING, window, 1).await {
                tracing::warn!(error = %e, "provider recipient limit not counted");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maitre_kit::coord::MemoryCoordination;

    fn admission(limits: ProviderLimits) -> Admission {
        Admission {
            coord: Arc::new(MemoryCoordination::new()),
            limits,
        }
    }

    #[tokio::test]
    async fn a_recipient_over_the_minute_waits_and_others_pass() {
        let gate = admission(ProviderLimits {
            qps: 0,
            per_recipient_minute: 1,
            per_recipient_hour: 5,
            per_recipient_day: 10,
        });
        assert_eq!(
            gate.admit("c", Channel::Sms, "+8613800138001").await,
            Ok(())
        );
        // Looking admits again until the provider accepted one.
        assert_eq!(
            gate.admit("c", Channel::Sms, "+8613800138001").await,
            Ok(())
        );
        gate.record_sent("c", Channel::Sms, "+8613800138001").await;
        let wait = gate
            .admit("c", Channel::Sms, "+8613800138001")
            .await
            .expect_err("over the minute");
        assert!(
            wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert_eq!(
            gate.admit("c", Channel::Sms, "+8613800138002").await,
            Ok(())
        );
        gate.record_sent("c", Channel::Sms, "+8613800138002").await;
        assert_eq!(
            gate.admit("d", Channel::Sms, "+8613800138001").await,
            Ok(())
        );
    }

    #[tokio::test]
    async fn the_account_rate_is_shared() {
        let gate = admission(ProviderLimits {
            qps: 2,
            ..ProviderLimits::default()
        });
        assert!(gate.admit("c", Channel::Sms, "").await.is_ok());
        assert!(gate.admit("c", Channel::Sms, "").await.is_ok());
        let wait = gate
            .admit("c", Channel::Sms, "")
            .await
            .expect_err("third in a second");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
    }
}
