//! Human-readable explanations of ownership decisions, stored with the history so
//! "why does Ms Li belong to Wang?" has an answer a store manager can read, e.g.
//! `locked: spend ¥5,200 ≥ ¥5,000 at the contact of 2026-03-01`.

use chrono::{DateTime, Utc};

use crate::domain::HistoryReason;
use crate::domain::history::HistoryEntry;
use crate::domain::value_lock::{LockReason, ValueLock};

/// Facts about the decision's context the explanation may cite.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub store_id: String,
    /// The lock in place after the decision (value-lock explanations cite its numbers).
    pub lock: Option<ValueLock>,
    /// Lock expiry setting, for expiry explanations.
    pub expiry_days: Option<u32>,
    /// The bulk transfer job, for bulk moves.
    pub job_id: String,
    /// The customer absorbed by a merge.
    pub absorbed_id: String,
    /// Why the customer waits in the pool (unassigned explanations).
    pub pool_reason: Option<crate::domain::allocation::PoolReason>,
}

/// Fen as yuan with thousands separators: 520000 → `¥5,200`, 12345 → `¥123.45`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    let digits = (fen / 100).to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    match fen % 100 {
        0 => format!("{sign}¥{grouped}"),
        cents => format!("{sign}¥{grouped}.{cents:02}"),
    }
}

fn who(manager: &Option<crate::domain::ManagerId>) -> String {
    manager
        .as_ref()
        .map_or_else(|| "nobody".to_owned(), |m| m.as_str().to_owned())
}

fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// The explanation of one history entry.
pub fn explain(entry: &HistoryEntry, facts: &Facts, actor: &str) -> String {
    let to = who(&entry.to);
    let store = &facts.store_id;
    match entry.reason {
        HistoryReason::LastContact => format!(
            "last contact: booked with {to} at store {store} on {}",
            day(entry.at)
        ),
        HistoryReason::ValueLock => match facts.lock.map(|lock| lock.reason) {
            Some(LockReason::ValueThreshold {
                counted_spend_fen,
                threshold_fen,
            }) => format!(
                "locked: spend {} ≥ {} at the contact of {}; locked to {to}",
                yuan(counted_spend_fen),
                yuan(threshold_fen),
                day(entry.at)
            ),
            _ => format!("locked to {to} as a value customer on {}", day(entry.at)),
        },
        HistoryReason::DailyEvenSplit => format!(
            "daily even split in store {store}: {to} had the fewest customers allocated on {}",
            day(entry.at)
        ),
        HistoryReason::MonthlyEvenSplit => {
            format!("monthly even split in store {store}: {to} had the fewest customers this month")
        }
        HistoryReason::DailyRotation => format!(
            "daily rotation in store {store}: {to} received the customers of {}",
            day(entry.at)
        ),
        HistoryReason::Transfer => {
            format!("transferred from {} to {to} by {actor}", who(&entry.from))
        }
        HistoryReason::BulkTransfer => format!(
            "bulk transfer {} moved the customer from {} to {to}",
            facts.job_id,
            who(&entry.from)
        ),
        HistoryReason::Unlock => format!("lock lifted by {actor}; {to} stays the owner"),
        HistoryReason::Expiry => match facts.expiry_days {
            Some(days) => format!("lock expired: no visit for {days} days; {to} stays the owner"),
            None => format!("lock expired; {to} stays the owner"),
        },
        HistoryReason::Merge => format!(
            "customer {} merged into this one: the locked owner or the latest contact wins ({to})",
            facts.absorbed_id
        ),
        HistoryReason::Unassigned => match facts.pool_reason {
            Some(reason) => format!(
                "{} (store {store}): waiting in the unassigned pool",
                reason.describe()
            ),
            None => format!(
                "no on-duty manager with free capacity in store {store}: waiting in the unassigned pool"
            ),
        },
        HistoryReason::ManualLock => format!("locked to {to} by hand by {actor}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn yuan_groups_thousands_and_keeps_cents() {
        assert_eq!(yuan(520_000), "¥5,200");
        assert_eq!(yuan(12_345), "¥123.45");
        assert_eq!(yuan(123_456_700), "¥1,234,567");
        assert_eq!(yuan(0), "¥0");
        assert_eq!(yuan(-500), "-¥5");
    }

    #[test]
    fn value_lock_explanation_cites_spend_and_threshold() {
        let at = Utc
            .with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("valid");
        let lock = ValueLock {
            locked_at: at,
            reason: LockReason::ValueThreshold {
                counted_spend_fen: 520_000,
                threshold_fen: 500_000,
            },
        };
        let entry = HistoryEntry {
            from: Some("zhang".into()),
            to: Some("zhang".into()),
            reason: HistoryReason::ValueLock,
            locked_after: true,
            at,
        };
        let facts = Facts {
            lock: Some(lock),
            ..Default::default()
        };
        assert_eq!(
            explain(&entry, &facts, "system"),
            "locked: spend ¥5,200 ≥ ¥5,000 at the contact of 2026-03-01; locked to zhang"
        );
    }
}
