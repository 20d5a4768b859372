//! Provider limits (issue 24): how fast one provider account may be called and how many messages
//! one recipient may receive through it per minute, hour and day — so Maitre stays under the limits
//! the provider enforces instead of learning them from refusals. Configured per account with the
//! optional settings [`SETTINGS`] (`0` = no limit); the defaults follow the providers' documented
//! default limits. The counting itself is `providers::limits` (coordination windows, shared by all
//! replicas); a message over a limit is delayed until it fits, never dropped.
//!
//! Defaults, and why:
//! - Alibaba Cloud SMS: the documented default flow control per phone number and sign is 1 per
//!   minute, 5 per hour, 10 per day for verification codes (notifications allow more per day,
//!   <https://help.aliyun.com/zh/sms/user-guide/set-throttling-rules>); Maitre uses the strictest
//!   (1/5/10) for every purpose, because the chain's own frequency caps already keep marketing far
//!   below it and a stricter limit only delays, while a looser one earns `isv.BUSINESS_LIMIT_CONTROL`.
//!   SendSms's API rate: 5000 calls per second per account (documented QPS).
//! - Tencent Cloud SMS: the documented default per-number limits are 1 per 30 s, 5 per hour and
//!   10 per natural day (<https://cloud.tencent.com/document/product/382/3773>, "频率限制");
//!   Maitre counts 1 per minute (whole minutes), 5 per hour, 10 per day; SendSms's API rate
//!   3000 per second.
//! - WeCom application messages: at most 30 per member per minute (the rest is discarded,
//!   <https://developer.work.weixin.qq.com/document/path/90236>, "频率限制"); API rate per app
//!   unspecified: 200 per second here.
//! - Other kinds (webhook, log, kinds added later): no limit unless configured.

use std::collections::BTreeMap;
use std::time::Duration;

use super::provider_kind::ProviderKind;

/// The optional settings of every provider account that set its limits.
pub const SETTINGS: [&str; 4] = [
    "limit_qps",
    "limit_per_recipient_minute",
    "limit_per_recipient_hour",
    "limit_per_recipient_day",
];

/// One account's limits; `0` = none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProviderLimits {
    /// Calls per second across every replica.
    pub qps: u64,
    pub per_recipient_minute: u64,
    pub per_recipient_hour: u64,
    pub per_recipient_day: u64,
}

impl ProviderLimits {
    /// The documented defaults of `kind` (see the module's comment); a provider kind this module
    /// does not know has none.
    pub fn defaults(kind: ProviderKind) -> Self {
        match kind {
            ProviderKind::AliyunSms => Self {
                qps: 5000,
                per_recipient_minute: 1,
                per_recipient_hour: 5,
                per_recipient_day: 10,
            },
            ProviderKind::TencentSms => Self {
                qps: 3000,
                per_recipient_minute: 1,
                per_recipient_hour: 5,
                per_recipient_day: 10,
            },
            ProviderKind::Wecom => Self {
                qps: 200,
                per_recipient_minute: 30,
                ..Self::default()
            },
            _ => Self::default(),
        }
    }

    /// The limits of an account of `kind` with `settings`: each configured value replaces the
    /// default (already validated by [`validate_setting`]; an unreadable one keeps the default).
    pub fn of_account(kind: ProviderKind, settings: &BTreeMap<String, String>) -> Self {
        let mut limits = Self::defaults(kind);
        for (name, field) in [
            (SETTINGS[0], &mut limits.qps),
            (SETTINGS[1], &mut limits.per_recipient_minute),
            (SETTINGS[2], &mut limits.per_recipient_hour),
            (SETTINGS[3], &mut limits.per_recipient_day),
        ] {
            if let Some(value) = settings.get(name).and_then(|v| v.trim().parse().ok()) {
                *field = value;
            }
        }
        limits
    }

    /// The per-recipient windows that apply: `(name, limit, window)`, the longest first.
    pub fn recipient_windows(&self) -> Vec<(&'static str, u64, Duration)> {
        [
            (
                "day",
                self.per_recipient_day,
                Duration::from_secs(24 * 3600),
            ),
            ("hour", self.per_recipient_hour, Duration::from_secs(3600)),
            ("minute", self.per_recipient_minute, Duration::from_secs(60)),
        ]
        .into_iter()
        .filter(|(_, limit, _)| *limit > 0)
        .collect()
    }
}

/// Checks one limit setting's value: a whole number, `0` meaning no limit. `Err` says why.
pub fn validate_setting(value: &str) -> Result<(), String> {
    value
        .trim()
        .parse::<u64>()
        .map(|_| ())
        .map_err(|_| "must be a whole number (0 = no limit)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_replace_the_documented_defaults() {
        let defaults = ProviderLimits::defaults(ProviderKind::AliyunSms);
        assert_eq!(
            (
                defaults.per_recipient_minute,
                defaults.per_recipient_hour,
                defaults.per_recipient_day
            ),
            (1, 5, 10)
        );
        let settings: BTreeMap<String, String> = [
            ("limit_qps", "20"),
            ("limit_per_recipient_day", "0"),
            ("sign_name", "海港酒家"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let limits = ProviderLimits::of_account(ProviderKind::TencentSms, &settings);
        assert_eq!(limits.qps, 20);
        assert_eq!(limits.per_recipient_day, 0);
        assert_eq!(
            limits
                .recipient_windows()
                .iter()
                .map(|w| w.0)
                .collect::<Vec<_>>(),
            vec!["hour", "minute"]
        );
        assert_eq!(
            ProviderLimits::defaults(ProviderKind::Webhook),
            ProviderLimits::default()
        );
        assert!(validate_setting("5").is_ok());
        assert!(validate_setting("-1").is_err());
        assert!(validate_setting("fast").is_err());
    }
}
