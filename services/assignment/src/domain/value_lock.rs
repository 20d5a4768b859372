//! 价值客户锁定 (seed 二): when a customer's counted spend reaches the threshold, ownership
//! is locked to one manager and later bookings through others do not move the customer.
//! This module owns the lock rule itself ([`value_lock_on_contact`]), how spend is counted
//! (lifetime or a rolling window), and when a lock expires. It does not decide ownership;
//! `ownership` applies these answers.
//!
//! The crossing rule: a lock is earned by *crossing* — the contact that moves the counted
//! spend from below the threshold to at-or-above it. Which manager gets the lock when that
//! contact came through someone other than the owner is configurable
//! ([`LockOwnerOnCrossing`]). A customer who is already above the threshold but unlocked
//! (manual unlock, expiry) is not re-locked by the next booking; only a new crossing (spend
//! falling out of the window and coming back) locks again, so an unlock is not undone by the
//! next visit.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::ManagerId;
use crate::domain::policy::{LockOwnerOnCrossing, SpendWindow, ValueLockPolicy};

/// One spend record (a paid visit or order; refunds are negative).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendEntry {
    pub at: DateTime<Utc>,
    pub amount_fen: i64,
}

/// The spend that counts towards the threshold at `now`: all entries up to `now` for
/// lifetime, or those in `(now - days, now]` for a window. Saturates instead of overflowing.
pub fn counted_spend_fen(entries: &[SpendEntry], window: SpendWindow, now: DateTime<Utc>) -> i64 {
    let window_start = match window {
        SpendWindow::Lifetime => None,
        SpendWindow::LastDays(days) => Some(now - Duration::days(i64::from(days))),
    };
    entries
        .iter()
        .filter(|entry| entry.at <= now && window_start.is_none_or(|start| entry.at > start))
        .fold(0_i64, |sum, entry| sum.saturating_add(entry.amount_fen))
}

/// Why a lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LockReason {
    ValueThreshold {
        counted_spend_fen: i64,
        threshold_fen: i64,
    },
    /// Locked by hand (a store manager or HQ), whatever the spend.
    Manual,
}

/// A value lock on the current owner. Moves with the customer on transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueLock {
    pub locked_at: DateTime<Utc>,
    pub reason: LockReason,
}

/// Does this contact cross the threshold (below before, at-or-above after)?
pub fn crosses_value_threshold(
    spend_before_fen: i64,
    spend_after_fen: i64,
    threshold_fen: i64,
) -> bool {
    spend_before_fen < threshold_fen && spend_after_fen >= threshold_fen
}

/// The lock a contact earns, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockGrant {
    /// Who is locked; `None` when the customer has neither an owner nor a contact manager
    /// (the lock is placed on whoever the store's strategy allocates).
    pub owner: Option<ManagerId>,
    pub lock: ValueLock,
}

/// The value-lock rule (seed 二): `Some` when this contact crosses the threshold of an
/// unlocked customer, naming the manager who gets the lock per the crossing rule.
/// The caller checks "unlocked" — a locked customer never reaches here.
pub fn value_lock_on_contact(
    policy: &ValueLockPolicy,
    owner_before: Option<&ManagerId>,
    contact_manager: Option<&ManagerId>,
    spend_before_fen: i64,
    spend_after_fen: i64,
    now: DateTime<Utc>,
) -> Option<LockGrant> {
    if !crosses_value_threshold(spend_before_fen, spend_after_fen, policy.threshold_fen()) {
        return None;
    }
    let owner = match policy.on_crossing() {
        LockOwnerOnCrossing::OwnerBeforeContact => owner_before.or(contact_manager),
        LockOwnerOnCrossing::ContactManager => contact_manager.or(owner_before),
    };
    Some(LockGrant {
        owner: owner.cloned(),
        lock: ValueLock {
            locked_at: now,
            reason: LockReason::ValueThreshold {
                counted_spend_fen: spend_after_fen,
                threshold_fen: policy.threshold_fen(),
            },
        },
    })
}

/// Is the lock due to expire at `now`: `expiry_days` or more since the later of the last
/// visit and the moment of locking (a lock is never born expired).
pub fn lock_expiry_due(
    lock: &ValueLock,
    last_visit_at: Option<DateTime<Utc>>,
    expiry_days: u32,
    now: DateTime<Utc>,
) -> bool {
    let since = last_visit_at.map_or(lock.locked_at, |visit| visit.max(lock.locked_at));
    now - since >= Duration::days(i64::from(expiry_days))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::{AssignmentPolicy, AssignmentPolicySpec};
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0)
            .single()
            .expect("valid")
            + Duration::days(i64::from(day))
    }

    fn lock_policy(on_crossing: LockOwnerOnCrossing) -> ValueLockPolicy {
        let spec = AssignmentPolicySpec {
            value_lock_threshold_fen: Some(10_000),
            lock_owner_on_crossing: on_crossing,
            ..Default::default()
        };
        *AssignmentPolicy::try_from(spec)
            .expect("valid")
            .value_lock()
            .expect("on")
    }

    #[test]
    fn lifetime_counts_everything_up_to_now() {
        let entries = [
            SpendEntry {
                at: at(0),
                amount_fen: 3_000,
            },
            SpendEntry {
                at: at(100),
                amount_fen: 4_000,
            },
            SpendEntry {
                at: at(200),
                amount_fen: -1_000,
            },
            SpendEntry {
                at: at(300),
                amount_fen: 9_000,
            },
        ];
        assert_eq!(
            counted_spend_fen(&entries, SpendWindow::Lifetime, at(250)),
            6_000
        );
    }

    #[test]
    fn window_is_rolling_and_excludes_its_start() {
        let entries = [
            SpendEntry {
                at: at(0),
                amount_fen: 3_000,
            },
            SpendEntry {
                at: at(10),
                amount_fen: 4_000,
            },
            SpendEntry {
                at: at(30),
                amount_fen: 5_000,
            },
        ];
        // (day 10, day 40]: day 10 is exactly 30 days back and falls out.
        assert_eq!(
            counted_spend_fen(&entries, SpendWindow::LastDays(30), at(40)),
            5_000
        );
        assert_eq!(
            counted_spend_fen(&entries, SpendWindow::LastDays(31), at(40)),
            9_000
        );
    }

    #[test]
    fn spend_sum_saturates() {
        let entries = [
            SpendEntry {
                at: at(0),
                amount_fen: i64::MAX,
            },
            SpendEntry {
                at: at(1),
                amount_fen: 1,
            },
        ];
        assert_eq!(
            counted_spend_fen(&entries, SpendWindow::Lifetime, at(2)),
            i64::MAX
        );
    }

    #[test]
    fn crossing_needs_below_then_reached() {
        assert!(crosses_value_threshold(9_999, 10_000, 10_000));
        assert!(!crosses_value_threshold(10_000, 12_000, 10_000));
        assert!(!crosses_value_threshold(5_000, 9_999, 10_000));
    }

    #[test]
    fn crossing_rule_picks_the_configured_owner() {
        let wang = ManagerId::from("wang");
        let zhang = ManagerId::from("zhang");
        let before = lock_policy(LockOwnerOnCrossing::OwnerBeforeContact);
        let grant = value_lock_on_contact(&before, Some(&zhang), Some(&wang), 9_000, 11_000, at(5));
        assert_eq!(
            grant.as_ref().and_then(|g| g.owner.clone()),
            Some(zhang.clone())
        );
        assert_eq!(grant.map(|g| g.lock.locked_at), Some(at(5)));

        let contact = lock_policy(LockOwnerOnCrossing::ContactManager);
        let grant =
            value_lock_on_contact(&contact, Some(&zhang), Some(&wang), 9_000, 11_000, at(5));
        assert_eq!(grant.and_then(|g| g.owner), Some(wang.clone()));

        // No owner before: the contact manager is the owner at that moment either way.
        let grant = value_lock_on_contact(&before, None, Some(&wang), 0, 10_000, at(5));
        assert_eq!(grant.and_then(|g| g.owner), Some(wang));
        // Nobody at all: lock waits for the allocation.
        let grant = value_lock_on_contact(&before, None, None, 0, 10_000, at(5));
        assert_eq!(grant.map(|g| g.owner), Some(None));
        assert!(
            value_lock_on_contact(&before, Some(&zhang), None, 10_000, 20_000, at(5)).is_none()
        );
    }

    #[test]
    fn expiry_counts_from_last_visit_or_lock() {
        let lock = ValueLock {
            locked_at: at(10),
            reason: LockReason::ValueThreshold {
                counted_spend_fen: 1,
                threshold_fen: 1,
            },
        };
        assert!(!lock_expiry_due(&lock, Some(at(10)), 365, at(374)));
        assert!(lock_expiry_due(&lock, Some(at(10)), 365, at(375)));
        assert!(!lock_expiry_due(&lock, Some(at(100)), 365, at(375)));
        // A visit recorded before the lock does not make the lock start old.
        assert!(!lock_expiry_due(&lock, Some(at(0)), 365, at(370)));
        assert!(lock_expiry_due(&lock, None, 365, at(375)));
    }
}
