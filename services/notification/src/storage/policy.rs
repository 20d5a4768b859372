//! The chain's contact policy (`notif_policy`, stored as the validated proto) and each customer's
//! preferences (`notif_preferences`: the domain's consent state as JSON, and a locale).

use chrono::{NaiveTime, Utc};
use maitre_kit::db::DbError;
use maitre_proto::notification::v1::ChainPolicy;
use prost::Message;
use sea_orm::ConnectionTrait;

use std::collections::HashMap;

use super::{exec, query_all, query_one};
use crate::convert::channel_from_proto;
use crate::domain::channel::Channel;
use crate::domain::consent::ConsentState;
use crate::domain::error::PolicyError;
use crate::domain::frequency::FrequencyCap;
use crate::domain::quiet_hours::QuietHours;
use crate::domain::retry::RetryPolicy;
use crate::error::{Error, Result};

/// Stores are in China for now; quiet hours are judged in this zone (the contract's `QuietHours` has no
/// zone and store zones are not consumed yet).
pub const DEFAULT_STORE_TIME_ZONE: &str = "Asia/Shanghai";

/// One cap: `None` channel = every guest channel together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapRule {
    pub channel: Option<Channel>,
    pub max_messages: u32,
    pub window_hours: u32,
}

impl CapRule {
    /// The domain cap judged for a message on `channel`.
    pub fn for_channel(&self, channel: Channel) -> Option<FrequencyCap> {
        FrequencyCap::new(channel, self.max_messages, self.window_hours).ok()
    }

    /// The window's name in coordination (one shared budget per customer per channel).
    pub fn window_key(&self, chain_id: &str, customer_id: &str) -> String {
        let channel = self.channel.map(|c| c.as_str()).unwrap_or("all");
        format!(
            "cap:{chain_id}:{customer_id}:{channel}:{}x{}h",
            self.max_messages, self.window_hours
        )
    }
}

/// The chain's validated contact policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactPolicy {
    pub caps: Vec<CapRule>,
    pub quiet_hours: Option<QuietHours>,
    pub retry: RetryPolicy,
}

fn policy_error(field: &str, error: PolicyError) -> Error {
    Error::Domain {
        field: field.into(),
        source: error.into(),
    }
}

/// Validates a proto policy into the domain's (caps > 0, quiet window of two times, attempts in range).
pub fn validate(policy: &ChainPolicy) -> Result<ContactPolicy> {
    let mut caps = Vec::new();
    for (index, cap) in policy.caps.iter().enumerate() {
        let field = format!("policy.caps[{index}]");
        let channel = if cap.channel == 0 {
            None
        } else {
            Some(channel_from_proto(
                &format!("{field}.channel"),
                cap.channel,
            )?)
        };
        if channel == Some(Channel::StaffInbox) {
            return Err(Error::invalid(
                format!("{field}.channel"),
                "caps protect guests; the staff inbox is not capped",
            ));
        }
        if cap.max_messages <= 0 {
            return Err(Error::invalid(
                format!("{field}.max_messages"),
                "must be greater than zero",
            ));
        }
        if cap.window_hours <= 0 {
            return Err(Error::invalid(
                format!("{field}.window_hours"),
                "must be greater than zero",
            ));
        }
        let rule = CapRule {
            channel,
            max_messages: cap.max_messages.unsigned_abs(),
            window_hours: cap.window_hours.unsigned_abs(),
        };
        // The domain owns the remaining limits (longest window).
        FrequencyCap::new(
            channel.unwrap_or(Channel::Sms),
            rule.max_messages,
            rule.window_hours,
        )
        .map_err(|e| policy_error(&format!("{field}.window_hours"), e))?;
        caps.push(rule);
    }
    let quiet_hours = match &policy.quiet_hours {
        None => None,
        Some(q) => {
            let time = |field: &str, minute: i32| {
                u32::try_from(minute)
                    .ok()
                    .filter(|m| *m < 24 * 60)
                    .and_then(|m| NaiveTime::from_hms_opt(m / 60, m % 60, 0))
                    .ok_or_else(|| Error::invalid(field, "must be a minute of the day, 0–1439"))
            };
            let start = time("policy.quiet_hours.start_minute", q.start_minute)?;
            let end = time("policy.quiet_hours.end_minute", q.end_minute)?;
            Some(
                QuietHours::with_zone_name(start, end, DEFAULT_STORE_TIME_ZONE)
                    .map_err(|e| policy_error("policy.quiet_hours", e))?,
            )
        }
    };
    let defaults = RetryPolicy::default();
    let retry = if policy.max_attempts == 0 {
        defaults
    } else {
        let attempts = u32::try_from(policy.max_attempts)
            .map_err(|_| Error::invalid("policy.max_attempts", "must not be negative"))?;
        RetryPolicy::new(1_000, 600_000, attempts)
            .map_err(|e| policy_error("policy.max_attempts", e))?
    };
    Ok(ContactPolicy {
        caps,
        quiet_hours,
        retry,
    })
}

/// The stored proto policy of the chain (the default, empty, when none was set).
pub async fn get(conn: &impl ConnectionTrait, chain_id: &str) -> Result<ChainPolicy> {
    let row = query_one(
        conn,
        "SELECT policy FROM notif_policy WHERE chain_id = $1",
        [chain_id.into()],
    )
    .await?;
    let Some(row) = row else {
        return Ok(ChainPolicy {
            max_attempts: i32::try_from(RetryPolicy::default().max_attempts()).unwrap_or(8),
            ..ChainPolicy::default()
        });
    };
    let bytes: Vec<u8> = row.try_get("", "policy")?;
    ChainPolicy::decode(bytes.as_slice()).map_err(|e| {
        Error::Db(DbError::Corrupt {
            what: format!("policy of {chain_id}"),
            reason: e.to_string(),
        })
    })
}

/// The chain's policy in domain terms.
pub async fn contact_policy(conn: &impl ConnectionTrait, chain_id: &str) -> Result<ContactPolicy> {
    validate(&get(conn, chain_id).await?)
}

/// Replaces the chain's policy (already validated).
pub async fn put(conn: &impl ConnectionTrait, chain_id: &str, policy: &ChainPolicy) -> Result<()> {
    exec(
        conn,
        "INSERT INTO notif_policy (chain_id, policy, update_time_us) VALUES ($1, $2, $3)
         ON CONFLICT (chain_id) DO UPDATE SET policy = excluded.policy, update_time_us = excluded.update_time_us",
        [
            chain_id.into(),
            policy.encode_to_vec().into(),
            Utc::now().timestamp_micros().into(),
        ],
    )
    .await?;
    Ok(())
}

/// A customer's stored consent and locale (defaults: nothing consented, zh-CN).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    pub consent: ConsentState,
    pub locale: String,
}

/// The customer's preferences.
pub async fn preferences(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<Preferences> {
    let row = query_one(
        conn,
        "SELECT consent, locale FROM notif_preferences WHERE chain_id = $1 AND customer_id = $2",
        [chain_id.into(), customer_id.into()],
    )
    .await?;
    let Some(row) = row else {
        return Ok(Preferences::default());
    };
    let consent: String = row.try_get("", "consent")?;
    Ok(Preferences {
        consent: serde_json::from_str(&consent).map_err(|e| {
            Error::Db(DbError::Corrupt {
                what: format!("consent of {customer_id}"),
                reason: e.to_string(),
            })
        })?,
        locale: row.try_get("", "locale")?,
    })
}

/// The preferences of `customers` of the chain (one statement per chunk); customers without a row
/// are absent (their defaults apply).
pub async fn preferences_of(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customers: &[&str],
) -> Result<HashMap<String, Preferences>> {
    let mut found = HashMap::with_capacity(customers.len());
    for chunk in customers.chunks(super::queue::ROWS_PER_STATEMENT) {
        let rows = query_all(
            conn,
            &format!(
                "SELECT customer_id, consent, locale FROM notif_preferences
                 WHERE chain_id = $1 AND customer_id IN ({})",
                super::queue::placeholders(2, chunk.len())
            ),
            std::iter::once(chain_id.into()).chain(chunk.iter().map(|c| (*c).into())),
        )
        .await?;
        for row in rows {
            let customer_id: String = row.try_get("", "customer_id")?;
            let consent: String = row.try_get("", "consent")?;
            let consent = serde_json::from_str(&consent).map_err(|e| {
                Error::Db(DbError::Corrupt {
                    what: format!("consent of {customer_id}"),
                    reason: e.to_string(),
                })
            })?;
            let locale = row.try_get("", "locale")?;
            found.insert(customer_id, Preferences { consent, locale });
        }
    }
    Ok(found)
}

/// Stores the customer's preferences.
pub async fn put_preferences(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    preferences: &Preferences,
) -> Result<()> {
    let consent = serde_json::to_string(&preferences.consent).map_err(|e| {
        Error::Db(DbError::Corrupt {
            what: format!("consent of {customer_id}"),
            reason: e.to_string(),
        })
    })?;
    exec(
        conn,
        "INSERT INTO notif_preferences (chain_id, customer_id, consent, locale, update_time_us)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (chain_id, customer_id) DO UPDATE SET consent = excluded.consent,
           locale = excluded.locale, update_time_us = excluded.update_time_us",
        [
            chain_id.into(),
            customer_id.into(),
            consent.into(),
            preferences.locale.clone().into(),
            Utc::now().timestamp_micros().into(),
        ],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use maitre_proto::notification::v1::{FrequencyCap as ProtoCap, QuietHours as ProtoQuiet};

    use super::*;

    fn cap(channel: i32, max: i32, hours: i32) -> ProtoCap {
        ProtoCap {
            channel,
            max_messages: max,
            window_hours: hours,
        }
    }

    #[test]
    fn caps_must_be_positive_and_name_the_field() {
        let policy = ChainPolicy {
            caps: vec![cap(1, 2, 24), cap(1, 0, 24)],
            ..ChainPolicy::default()
        };
        let error = validate(&policy).unwrap_err();
        assert!(
            matches!(error, Error::InvalidField { ref field, .. } if field == "policy.caps[1].max_messages")
        );
        let policy = ChainPolicy {
            caps: vec![cap(0, 2, -1)],
            ..ChainPolicy::default()
        };
        assert!(
            matches!(validate(&policy), Err(Error::InvalidField { ref field, .. }) if field == "policy.caps[0].window_hours")
        );
    }

    #[test]
    fn quiet_hours_need_two_times_of_day() {
        let policy = ChainPolicy {
            quiet_hours: Some(ProtoQuiet {
                start_minute: 21 * 60,
                end_minute: 9 * 60,
            }),
            ..ChainPolicy::default()
        };
        let valid = validate(&policy).expect("valid");
        assert!(valid.quiet_hours.is_some());
        let same = ChainPolicy {
            quiet_hours: Some(ProtoQuiet {
                start_minute: 60,
                end_minute: 60,
            }),
            ..ChainPolicy::default()
        };
        assert!(validate(&same).is_err());
        let out_of_day = ChainPolicy {
            quiet_hours: Some(ProtoQuiet {
                start_minute: 1440,
                end_minute: 60,
            }),
            ..ChainPolicy::default()
        };
        assert!(validate(&out_of_day).is_err());
    }

    #[test]
    fn all_channel_caps_share_one_window_per_customer() {
        let rule = CapRule {
            channel: None,
            max_messages: 3,
            window_hours: 24,
        };
        assert_eq!(rule.window_key("c1", "g1"), "cap:c1:g1:all:3x24h");
        assert!(rule.for_channel(Channel::Wechat).is_some());
    }
}
