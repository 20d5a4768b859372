//! Frequency caps: at most `max_messages` messages to one guest on one channel per rolling window
//! (ARCHITECTURE.md "Delivery": frequency caps; the counts themselves live in Redis, this module owns the
//! policy and the decision).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::channel::{Channel, MessagePurpose};
use super::error::PolicyError;

/// Longest window a cap may use; a longer one is a configuration mistake (counts expire in Redis).
pub const MAX_CAP_WINDOW_HOURS: u32 = 24 * 90;

/// A validated cap for one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrequencyCap {
    channel: Channel,
    max_messages: u32,
    window_hours: u32,
}

impl FrequencyCap {
    /// Both the count and the window must be greater than zero.
    pub fn new(
        channel: Channel,
        max_messages: u32,
        window_hours: u32,
    ) -> Result<Self, PolicyError> {
        if max_messages == 0 {
            return Err(PolicyError::NotPositive {
                field: "frequency_cap.max_messages",
            });
        }
        if window_hours == 0 {
            return Err(PolicyError::NotPositive {
                field: "frequency_cap.window_hours",
            });
        }
        if window_hours > MAX_CAP_WINDOW_HOURS {
            return Err(PolicyError::TooLarge {
                field: "frequency_cap.window_hours",
                value: u64::from(window_hours),
                max: u64::from(MAX_CAP_WINDOW_HOURS),
            });
        }
        Ok(Self {
            channel,
            max_messages,
            window_hours,
        })
    }

    pub fn channel(&self) -> Channel {
        self.channel
    }

    pub fn max_messages(&self) -> u32 {
        self.max_messages
    }

    pub fn window_hours(&self) -> u32 {
        self.window_hours
    }

    /// Start of the rolling window ending at `now`: sends at or after it count towards the cap.
    pub fn window_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::hours(i64::from(self.window_hours))
    }

    /// Whether the cap binds a message of `purpose`: transactional answers are never capped, and staff
    /// inbox messages are not guest messages.
    pub fn applies_to(&self, channel: Channel, purpose: MessagePurpose) -> bool {
        channel == self.channel
            && channel.reaches_customer()
            && purpose != MessagePurpose::Transactional
    }

    /// Whether one more message fits after `sent_in_window` messages in the current window.
    pub fn allows_another(&self, sent_in_window: u32) -> bool {
        sent_in_window < self.max_messages
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn zero_values_are_rejected_with_field_names() {
        assert_eq!(
            FrequencyCap::new(Channel::Sms, 0, 24),
            Err(PolicyError::NotPositive {
                field: "frequency_cap.max_messages"
            })
        );
        assert_eq!(
            FrequencyCap::new(Channel::Sms, 2, 0),
            Err(PolicyError::NotPositive {
                field: "frequency_cap.window_hours"
            })
        );
        assert!(matches!(
            FrequencyCap::new(Channel::Sms, 2, MAX_CAP_WINDOW_HOURS + 1),
            Err(PolicyError::TooLarge {
                field: "frequency_cap.window_hours",
                ..
            })
        ));
    }

    #[test]
    fn cap_allows_up_to_max_messages() {
        let cap = FrequencyCap::new(Channel::Sms, 2, 168).expect("valid cap");
        assert!(cap.allows_another(0));
        assert!(cap.allows_another(1));
        assert!(!cap.allows_another(2));
    }

    #[test]
    fn window_start_is_window_hours_before_now() {
        let cap = FrequencyCap::new(Channel::Wechat, 1, 24).expect("valid cap");
        let now = Utc
            .with_ymd_and_hms(2025, 5, 2, 10, 0, 0)
            .single()
            .expect("valid");
        let start = Utc
            .with_ymd_and_hms(2025, 5, 1, 10, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(cap.window_start(now), start);
    }

    #[test]
    fn transactional_and_other_channels_are_not_capped() {
        let cap = FrequencyCap::new(Channel::Sms, 1, 24).expect("valid cap");
        assert!(cap.applies_to(Channel::Sms, MessagePurpose::Marketing));
        assert!(cap.applies_to(Channel::Sms, MessagePurpose::Service));
        assert!(!cap.applies_to(Channel::Sms, MessagePurpose::Transactional));
        assert!(!cap.applies_to(Channel::Email, MessagePurpose::Marketing));
    }
}
