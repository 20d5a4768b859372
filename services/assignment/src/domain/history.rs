//! Why a customer belongs to a manager: the reasons recorded with every ownership change
//! (ARCHITECTURE "Every decision is recorded with its reason"). The names are stable
//! strings: they are stored and shown in the history, so never rename one.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::ManagerId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryReason {
    /// 最后接触: the customer last booked with this manager.
    LastContact,
    /// 价值客户锁定: cumulative spend reached the threshold; owner locked.
    ValueLock,
    /// 按天均分.
    DailyEvenSplit,
    /// 按月均分.
    MonthlyEvenSplit,
    /// 按天轮换.
    DailyRotation,
    /// Explicit single transfer.
    Transfer,
    /// 一键批量转移 when a manager leaves (seed 四).
    BulkTransfer,
    /// Manual unlock of a value lock.
    Unlock,
    /// Value lock released after the configured time without a visit.
    Expiry,
    /// Two customer records merged; the survivor took this owner.
    Merge,
    /// Nobody eligible had room: the customer waits in the store's unassigned pool.
    Unassigned,
    /// Locked to the current owner by hand (store manager or HQ).
    ManualLock,
}

impl HistoryReason {
    pub const ALL: [HistoryReason; 12] = [
        HistoryReason::LastContact,
        HistoryReason::ValueLock,
        HistoryReason::DailyEvenSplit,
        HistoryReason::MonthlyEvenSplit,
        HistoryReason::DailyRotation,
        HistoryReason::Transfer,
        HistoryReason::BulkTransfer,
        HistoryReason::Unlock,
        HistoryReason::Expiry,
        HistoryReason::Merge,
        HistoryReason::Unassigned,
        HistoryReason::ManualLock,
    ];

    /// The stored name of the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryReason::LastContact => "last_contact",
            HistoryReason::ValueLock => "value_lock",
            HistoryReason::DailyEvenSplit => "daily_even_split",
            HistoryReason::MonthlyEvenSplit => "monthly_even_split",
            HistoryReason::DailyRotation => "daily_rotation",
            HistoryReason::Transfer => "transfer",
            HistoryReason::BulkTransfer => "bulk_transfer",
            HistoryReason::Unlock => "unlock",
            HistoryReason::Expiry => "expiry",
            HistoryReason::Merge => "merge",
            HistoryReason::Unassigned => "unassigned",
            HistoryReason::ManualLock => "manual_lock",
        }
    }

    /// Parses a stored name; `None` for anything unknown.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == name)
    }
}

impl fmt::Display for HistoryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of a customer's ownership history. `from == to` for lock changes that keep the
/// owner (a lock placed on the current owner, an unlock, an expiry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub from: Option<ManagerId>,
    pub to: Option<ManagerId>,
    pub reason: HistoryReason,
    /// Whether the customer is value-locked after this entry.
    pub locked_after: bool,
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_snake_case() {
        for reason in HistoryReason::ALL {
            assert_eq!(HistoryReason::parse(reason.as_str()), Some(reason));
            let json = serde_json::to_string(&reason).expect("enum serialises");
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
        }
        assert_eq!(HistoryReason::parse("round_robin"), None);
    }

    #[test]
    fn stored_names_are_the_documented_ones() {
        let names: Vec<&str> = HistoryReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "last_contact",
                "value_lock",
                "daily_even_split",
                "monthly_even_split",
                "daily_rotation",
                "transfer",
                "bulk_transfer",
                "unlock",
                "expiry",
                "merge",
                "unassigned",
                "manual_lock"
            ]
        );
    }
}
