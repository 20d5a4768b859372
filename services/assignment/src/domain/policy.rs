//! The assignment policy of a chain, optionally overridden per store: the value-lock rule
//! (threshold, spend window, who gets the lock on the crossing booking, expiry), the
//! allocation strategy for customers with no contact manager, and the store's time zone
//! that defines "today" and "this month". A raw [`AssignmentPolicySpec`] (what is stored
//! and edited) is validated once into an [`AssignmentPolicy`]; the rules only ever see a
//! validated policy.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::domain::error::AssignmentError;

/// Who receives the value lock when the booking or visit that crosses the threshold was
/// made through a manager other than the current owner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockOwnerOnCrossing {
    /// Lock the owner from before the crossing contact (seed 二: "自动锁定原客户经理",
    /// lock the original manager). The crossing contact does not move the customer.
    /// If the customer had no owner, the contact manager gets the lock.
    #[default]
    OwnerBeforeContact,
    /// Apply last contact first, then lock: the manager of the crossing contact gets the lock.
    ContactManager,
}

/// Which spend counts towards the value threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendWindow {
    Lifetime,
    /// Spend in the last `n` days up to now (a rolling window, not calendar months).
    LastDays(u32),
}

/// How a store allocates customers that have no contact manager (seed 二).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocationStrategy {
    /// 按天均分: equal counts per manager per store-local day.
    #[default]
    DailyEvenSplit,
    /// 按月均分: fewest this month first; catch-up limited by a daily cap.
    MonthlyEvenSplit,
    /// 按天轮换: one duty manager per store-local day, rotating through the roster.
    DailyRotation,
}

/// The stored, editable form. `None` threshold turns the value lock off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentPolicySpec {
    pub value_lock_threshold_fen: Option<i64>,
    /// `None` counts lifetime spend.
    pub spend_window_days: Option<u32>,
    #[serde(default)]
    pub lock_owner_on_crossing: LockOwnerOnCrossing,
    /// Days without a visit after which a value lock is released; `None` never expires.
    pub lock_expiry_days: Option<u32>,
    #[serde(default)]
    pub strategy: AllocationStrategy,
    /// Under 按月均分, most customers one manager receives per day, so a manager back from
    /// leave catches up over days instead of taking every new customer. `None` is no cap.
    pub monthly_daily_cap: Option<u64>,
    /// IANA zone of the store, e.g. `Asia/Shanghai`.
    pub time_zone: String,
}

impl Default for AssignmentPolicySpec {
    fn default() -> Self {
        Self {
            value_lock_threshold_fen: None,
            spend_window_days: None,
            lock_owner_on_crossing: LockOwnerOnCrossing::default(),
            lock_expiry_days: Some(365),
            strategy: AllocationStrategy::default(),
            monthly_daily_cap: None,
            time_zone: "Asia/Shanghai".to_owned(),
        }
    }
}

/// A store's deviations from the chain policy; `None` fields inherit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorePolicyOverride {
    pub value_lock_threshold_fen: Option<i64>,
    pub strategy: Option<AllocationStrategy>,
    pub monthly_daily_cap: Option<u64>,
    pub time_zone: Option<String>,
}

impl AssignmentPolicySpec {
    /// The chain policy with a store's overrides applied (still to be validated).
    pub fn with_store_override(&self, store: &StorePolicyOverride) -> AssignmentPolicySpec {
        let mut merged = self.clone();
        if store.value_lock_threshold_fen.is_some() {
            merged.value_lock_threshold_fen = store.value_lock_threshold_fen;
        }
        if let Some(strategy) = store.strategy {
            merged.strategy = strategy;
        }
        if store.monthly_daily_cap.is_some() {
            merged.monthly_daily_cap = store.monthly_daily_cap;
        }
        if let Some(zone) = &store.time_zone {
            merged.time_zone.clone_from(zone);
        }
        merged
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueLockPolicy {
    threshold_fen: i64,
    window: SpendWindow,
    on_crossing: LockOwnerOnCrossing,
    expiry_days: Option<u32>,
}

impl ValueLockPolicy {
    pub fn threshold_fen(&self) -> i64 {
        self.threshold_fen
    }
    pub fn window(&self) -> SpendWindow {
        self.window
    }
    pub fn on_crossing(&self) -> LockOwnerOnCrossing {
        self.on_crossing
    }
    pub fn expiry_days(&self) -> Option<u32> {
        self.expiry_days
    }
}

/// A validated policy. Build with `AssignmentPolicy::try_from(spec)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentPolicy {
    value_lock: Option<ValueLockPolicy>,
    strategy: AllocationStrategy,
    monthly_daily_cap: Option<u64>,
    time_zone: Tz,
}

impl AssignmentPolicy {
    pub fn value_lock(&self) -> Option<&ValueLockPolicy> {
        self.value_lock.as_ref()
    }
    pub fn strategy(&self) -> AllocationStrategy {
        self.strategy
    }
    pub fn monthly_daily_cap(&self) -> Option<u64> {
        self.monthly_daily_cap
    }
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }
}

impl TryFrom<&AssignmentPolicySpec> for AssignmentPolicy {
    type Error = AssignmentError;

    fn try_from(spec: &AssignmentPolicySpec) -> Result<Self, AssignmentError> {
        let window = match spec.spend_window_days {
            None => SpendWindow::Lifetime,
            Some(0) => {
                return Err(AssignmentError::ZeroNotAllowed {
                    field: "spend_window_days",
                });
            }
            Some(days) => SpendWindow::LastDays(days),
        };
        if spec.lock_expiry_days == Some(0) {
            return Err(AssignmentError::ZeroNotAllowed {
                field: "lock_expiry_days",
            });
        }
        if spec.monthly_daily_cap == Some(0) {
            return Err(AssignmentError::ZeroNotAllowed {
                field: "monthly_daily_cap",
            });
        }
        let value_lock = match spec.value_lock_threshold_fen {
            None => None,
            Some(threshold_fen) if threshold_fen <= 0 => {
                return Err(AssignmentError::NonPositiveThreshold {
                    field: "value_lock_threshold_fen",
                    value_fen: threshold_fen,
                });
            }
            Some(threshold_fen) => Some(ValueLockPolicy {
                threshold_fen,
                window,
                on_crossing: spec.lock_owner_on_crossing,
                expiry_days: spec.lock_expiry_days,
            }),
        };
        let time_zone =
            spec.time_zone
                .parse::<Tz>()
                .map_err(|_| AssignmentError::UnknownTimeZone {
                    field: "time_zone",
                    name: spec.time_zone.clone(),
                })?;
        Ok(Self {
            value_lock,
            strategy: spec.strategy,
            monthly_daily_cap: spec.monthly_daily_cap,
            time_zone,
        })
    }
}

impl TryFrom<AssignmentPolicySpec> for AssignmentPolicy {
    type Error = AssignmentError;

    fn try_from(spec: AssignmentPolicySpec) -> Result<Self, AssignmentError> {
        Self::try_from(&spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with_threshold(threshold_fen: i64) -> AssignmentPolicySpec {
        AssignmentPolicySpec {
            value_lock_threshold_fen: Some(threshold_fen),
            ..AssignmentPolicySpec::default()
        }
    }

    #[test]
    fn non_positive_threshold_names_the_field() {
        for bad in [0, -1, i64::MIN] {
            assert_eq!(
                AssignmentPolicy::try_from(spec_with_threshold(bad)),
                Err(AssignmentError::NonPositiveThreshold {
                    field: "value_lock_threshold_fen",
                    value_fen: bad
                })
            );
        }
    }

    #[test]
    fn zero_days_and_caps_name_the_field() {
        let cases = [
            (
                AssignmentPolicySpec {
                    spend_window_days: Some(0),
                    ..spec_with_threshold(1)
                },
                "spend_window_days",
            ),
            (
                AssignmentPolicySpec {
                    lock_expiry_days: Some(0),
                    ..spec_with_threshold(1)
                },
                "lock_expiry_days",
            ),
            (
                AssignmentPolicySpec {
                    monthly_daily_cap: Some(0),
                    ..spec_with_threshold(1)
                },
                "monthly_daily_cap",
            ),
        ];
        for (spec, field) in cases {
            assert_eq!(
                AssignmentPolicy::try_from(spec),
                Err(AssignmentError::ZeroNotAllowed { field })
            );
        }
    }

    #[test]
    fn unknown_zone_is_rejected() {
        let spec = AssignmentPolicySpec {
            time_zone: "Mars/Olympus".into(),
            ..Default::default()
        };
        assert!(matches!(
            AssignmentPolicy::try_from(spec),
            Err(AssignmentError::UnknownTimeZone {
                field: "time_zone",
                ..
            })
        ));
    }

    #[test]
    fn valid_spec_keeps_its_settings() {
        let spec = AssignmentPolicySpec {
            value_lock_threshold_fen: Some(500_000),
            spend_window_days: Some(180),
            lock_owner_on_crossing: LockOwnerOnCrossing::ContactManager,
            lock_expiry_days: Some(365),
            strategy: AllocationStrategy::MonthlyEvenSplit,
            monthly_daily_cap: Some(5),
            time_zone: "Asia/Shanghai".into(),
        };
        let policy = AssignmentPolicy::try_from(&spec).expect("valid");
        let lock = policy.value_lock().expect("lock on");
        assert_eq!(lock.threshold_fen(), 500_000);
        assert_eq!(lock.window(), SpendWindow::LastDays(180));
        assert_eq!(lock.on_crossing(), LockOwnerOnCrossing::ContactManager);
        assert_eq!(lock.expiry_days(), Some(365));
        assert_eq!(policy.strategy(), AllocationStrategy::MonthlyEvenSplit);
        assert_eq!(policy.monthly_daily_cap(), Some(5));
        assert_eq!(policy.time_zone(), chrono_tz::Asia::Shanghai);
    }

    #[test]
    fn store_override_wins_and_is_validated_too() {
        let chain = spec_with_threshold(100_000);
        let store = StorePolicyOverride {
            value_lock_threshold_fen: Some(300_000),
            strategy: Some(AllocationStrategy::DailyRotation),
            ..Default::default()
        };
        let policy = AssignmentPolicy::try_from(chain.with_store_override(&store)).expect("valid");
        assert_eq!(
            policy.value_lock().map(|l| l.threshold_fen()),
            Some(300_000)
        );
        assert_eq!(policy.strategy(), AllocationStrategy::DailyRotation);

        let bad = StorePolicyOverride {
            value_lock_threshold_fen: Some(-5),
            ..Default::default()
        };
        assert!(AssignmentPolicy::try_from(chain.with_store_override(&bad)).is_err());
    }

    #[test]
    fn no_threshold_means_no_lock() {
        let policy = AssignmentPolicy::try_from(AssignmentPolicySpec::default()).expect("valid");
        assert!(policy.value_lock().is_none());
    }
}
