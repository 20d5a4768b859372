//! Ownership when two customer records merge (ARCHITECTURE "Customer": an event carrying
//! keys of two customers merges them). Rule (issue): the locked owner wins, else the owner
//! of the latest contact. Both locked: the older lock wins (it was earned first). Ties keep
//! the survivor's owner, so a merge replayed changes nothing.

use chrono::{DateTime, Utc};

use crate::domain::history::{HistoryEntry, HistoryReason};
use crate::domain::ownership::{Decision, OwnerState};

/// One of the two records being merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeSide {
    pub state: OwnerState,
    /// When this record last booked or visited through its owner.
    pub last_contact_at: Option<DateTime<Utc>>,
}

/// Does the absorbed record's ownership beat the survivor's?
fn absorbed_wins(survivor: &MergeSide, absorbed: &MergeSide) -> bool {
    if absorbed.state.owner.is_none() {
        return false;
    }
    if survivor.state.owner.is_none() {
        return true;
    }
    match (&survivor.state.lock, &absorbed.state.lock) {
        (Some(kept), Some(other)) => other.locked_at < kept.locked_at,
        (Some(_), None) => false,
        (None, Some(_)) => true,
        (None, None) => match (survivor.last_contact_at, absorbed.last_contact_at) {
            (Some(kept), Some(other)) => other > kept,
            (None, Some(_)) => true,
            _ => false,
        },
    }
}

/// The survivor's ownership after the merge, with a `merge` history line when it changes.
pub fn merge_owners(survivor: &MergeSide, absorbed: &MergeSide, now: DateTime<Utc>) -> Decision {
    let mut decision = Decision::start(&survivor.state);
    if absorbed_wins(survivor, absorbed) && absorbed.state != survivor.state {
        decision.next = absorbed.state.clone();
        decision.history.push(HistoryEntry {
            from: survivor.state.owner.clone(),
            to: absorbed.state.owner.clone(),
            reason: HistoryReason::Merge,
            locked_after: absorbed.state.is_locked(),
            at: now,
        });
    }
    decision
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::domain::ids::ManagerId;
    use crate::domain::ownership::Outcome;
    use crate::domain::value_lock::{LockReason, ValueLock};

    fn day(n: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
            .single()
            .expect("valid")
            + Duration::days(n)
    }

    fn side(owner: Option<&str>, locked_on: Option<i64>, last_contact: Option<i64>) -> MergeSide {
        MergeSide {
            state: OwnerState {
                owner: owner.map(ManagerId::from),
                lock: locked_on.map(|d| ValueLock {
                    locked_at: day(d),
                    reason: LockReason::ValueThreshold {
                        counted_spend_fen: 1,
                        threshold_fen: 1,
                    },
                }),
            },
            last_contact_at: last_contact.map(day),
        }
    }

    #[test]
    fn locked_owner_beats_a_later_contact() {
        let survivor = side(Some("wang"), None, Some(50));
        let absorbed = side(Some("zhang"), Some(10), Some(20));
        let d = merge_owners(&survivor, &absorbed, day(60));
        assert_eq!(
            d.outcome(),
            Outcome::Change {
                to: "zhang".into(),
                reason: HistoryReason::Merge
            }
        );
        assert!(d.next.is_locked());
        assert!(d.history[0].locked_after);
        // And the other way round the survivor keeps its lock.
        let d = merge_owners(&absorbed, &survivor, day(60));
        assert!(d.is_fast_path());
    }

    #[test]
    fn without_locks_the_latest_contact_wins() {
        let survivor = side(Some("wang"), None, Some(5));
        let absorbed = side(Some("li"), None, Some(9));
        assert_eq!(
            merge_owners(&survivor, &absorbed, day(10)).next.owner,
            Some("li".into())
        );
        let earlier = side(Some("li"), None, Some(3));
        assert!(merge_owners(&survivor, &earlier, day(10)).is_fast_path());
    }

    #[test]
    fn both_locked_keeps_the_older_lock_and_ties_keep_the_survivor() {
        let survivor = side(Some("wang"), Some(30), Some(40));
        let absorbed = side(Some("li"), Some(20), Some(25));
        assert_eq!(
            merge_owners(&survivor, &absorbed, day(50)).next.owner,
            Some("li".into())
        );
        let same_time = side(Some("li"), Some(30), Some(45));
        assert!(merge_owners(&survivor, &same_time, day(50)).is_fast_path());
    }

    #[test]
    fn an_owner_beats_no_owner() {
        let nobody = side(None, None, Some(99));
        let owned = side(Some("li"), None, None);
        assert_eq!(
            merge_owners(&nobody, &owned, day(100)).next.owner,
            Some("li".into())
        );
        assert!(merge_owners(&owned, &nobody, day(100)).is_fast_path());
        assert!(merge_owners(&nobody, &side(None, None, None), day(100)).is_fast_path());
    }
}
