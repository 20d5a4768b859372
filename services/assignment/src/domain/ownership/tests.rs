//! Unit tests of the per-contact ownership rule, including the seed story.

use chrono::{Duration, TimeZone};

use super::*;
use crate::domain::policy::{AssignmentPolicySpec, LockOwnerOnCrossing};
use crate::domain::value_lock::LockReason;

const THRESHOLD_FEN: i64 = 500_000;

fn policy(on_crossing: LockOwnerOnCrossing) -> AssignmentPolicy {
    AssignmentPolicy::try_from(AssignmentPolicySpec {
        value_lock_threshold_fen: Some(THRESHOLD_FEN),
        lock_owner_on_crossing: on_crossing,
        lock_expiry_days: Some(365),
        ..Default::default()
    })
    .expect("valid policy")
}

fn day(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 11, 0, 0)
        .single()
        .expect("valid")
        + Duration::days(n)
}

fn booking(via: Option<&str>, spend_fen: i64, last_visit_at: Option<DateTime<Utc>>) -> Contact {
    Contact {
        via_manager: via.map(ManagerId::from),
        spend_before_fen: spend_fen,
        spend_after_fen: spend_fen,
        last_visit_at,
    }
}

fn visit(
    via: Option<&str>,
    before_fen: i64,
    after_fen: i64,
    last_visit_at: Option<DateTime<Utc>>,
) -> Contact {
    Contact {
        via_manager: via.map(ManagerId::from),
        spend_before_fen: before_fen,
        spend_after_fen: after_fen,
        last_visit_at,
    }
}

fn owner(state: &OwnerState) -> Option<&str> {
    state.owner.as_ref().map(ManagerId::as_str)
}

/// Seed 二, end to end: last contact moves the customer until the value lock holds it;
/// a year without a visit releases the lock.
#[test]
fn seed_story_last_contact_lock_and_expiry() {
    let policy = policy(LockOwnerOnCrossing::OwnerBeforeContact);
    let state = OwnerState::default();

    // Books via Wang → Wang.
    let d = decide_on_contact(&state, &booking(Some("wang"), 0, None), &policy, day(0));
    assert_eq!(
        d.outcome(),
        Outcome::Change {
            to: "wang".into(),
            reason: HistoryReason::LastContact
        }
    );
    assert_eq!(d.history.len(), 1);
    let state = d.next;

    // Books via Zhang → Zhang.
    let d = decide_on_contact(
        &state,
        &booking(Some("zhang"), 200_000, Some(day(1))),
        &policy,
        day(10),
    );
    assert_eq!(
        d.outcome(),
        Outcome::Change {
            to: "zhang".into(),
            reason: HistoryReason::LastContact
        }
    );
    assert_eq!(d.history[0].from, Some("wang".into()));
    let state = d.next;

    // The visit booked with Zhang crosses the threshold → locked to Zhang.
    let d = decide_on_contact(
        &state,
        &visit(Some("zhang"), 200_000, 520_000, Some(day(1))),
        &policy,
        day(11),
    );
    assert_eq!(
        d.outcome(),
        Outcome::Lock {
            owner: "zhang".into()
        }
    );
    assert_eq!(owner(&d.next), Some("zhang"));
    assert_eq!(
        d.next.lock.map(|l| (l.locked_at, l.reason)),
        Some((
            day(11),
            LockReason::ValueThreshold {
                counted_spend_fen: 520_000,
                threshold_fen: THRESHOLD_FEN
            }
        ))
    );
    let state = d.next;

    // Books via Wang → stays Zhang, and nothing needs writing.
    let d = decide_on_contact(
        &state,
        &booking(Some("wang"), 520_000, Some(day(11))),
        &policy,
        day(40),
    );
    assert!(d.is_fast_path());
    assert_eq!(d.outcome(), Outcome::Keep);
    assert_eq!(d.next, state);

    // 364 days after the last visit the lock still holds.
    let d = decide_on_contact(
        &state,
        &booking(Some("wang"), 520_000, Some(day(11))),
        &policy,
        day(11 + 364),
    );
    assert!(d.is_fast_path());

    // 365 days without a visit: the sweep releases the lock, Zhang keeps the customer.
    let swept = expire_lock_if_due(&state, Some(day(11)), &policy, day(11 + 365));
    assert_eq!(
        swept.outcome(),
        Outcome::Unlocked {
            reason: HistoryReason::Expiry
        }
    );
    assert_eq!(owner(&swept.next), Some("zhang"));
    assert!(!swept.next.is_locked());

    // Without a sweep, the next booking via Wang expires the lock first, then moves.
    let d = decide_on_contact(
        &state,
        &booking(Some("wang"), 520_000, Some(day(11))),
        &policy,
        day(11 + 400),
    );
    let reasons: Vec<HistoryReason> = d.history.iter().map(|e| e.reason).collect();
    assert_eq!(reasons, [HistoryReason::Expiry, HistoryReason::LastContact]);
    assert_eq!(owner(&d.next), Some("wang"));
    assert!(
        !d.next.is_locked(),
        "already above the threshold: no new crossing, no relock"
    );
}

#[test]
fn same_manager_booking_is_the_fast_path() {
    let policy = policy(LockOwnerOnCrossing::OwnerBeforeContact);
    let state = OwnerState {
        owner: Some("wang".into()),
        lock: None,
    };
    let d = decide_on_contact(&state, &booking(Some("wang"), 1_000, None), &policy, day(0));
    assert!(d.is_fast_path());
    assert_eq!(d.next, state);
}

#[test]
fn crossing_through_another_manager_follows_the_configured_rule() {
    let state = OwnerState {
        owner: Some("zhang".into()),
        lock: None,
    };
    let crossing = visit(Some("wang"), 400_000, 600_000, None);

    let d = decide_on_contact(
        &state,
        &crossing,
        &policy(LockOwnerOnCrossing::OwnerBeforeContact),
        day(0),
    );
    assert_eq!(
        d.outcome(),
        Outcome::Lock {
            owner: "zhang".into()
        }
    );
    assert_eq!(
        d.history.len(),
        1,
        "owner unchanged: only the lock is recorded"
    );

    let d = decide_on_contact(
        &state,
        &crossing,
        &policy(LockOwnerOnCrossing::ContactManager),
        day(0),
    );
    assert_eq!(
        d.outcome(),
        Outcome::Lock {
            owner: "wang".into()
        }
    );
    let reasons: Vec<HistoryReason> = d.history.iter().map(|e| e.reason).collect();
    assert_eq!(
        reasons,
        [HistoryReason::LastContact, HistoryReason::ValueLock]
    );
    assert_eq!(d.history[1].from, Some("wang".into()));
}

#[test]
fn no_contact_manager_and_no_owner_needs_allocation() {
    let policy = policy(LockOwnerOnCrossing::OwnerBeforeContact);
    let d = decide_on_contact(
        &OwnerState::default(),
        &booking(None, 0, None),
        &policy,
        day(0),
    );
    assert_eq!(d.outcome(), Outcome::NeedsAllocation);
    assert_eq!(
        d.allocation,
        Some(PendingAllocation {
            lock_on_assign: None
        })
    );
    assert!(!d.is_fast_path());

    // An owned customer walking in without a manager keeps their owner.
    let owned = OwnerState {
        owner: Some("li".into()),
        lock: None,
    };
    let d = decide_on_contact(&owned, &booking(None, 0, None), &policy, day(0));
    assert!(d.is_fast_path());
}

#[test]
fn a_crossing_walk_in_is_locked_to_whoever_is_allocated() {
    let policy = policy(LockOwnerOnCrossing::OwnerBeforeContact);
    let d = decide_on_contact(
        &OwnerState::default(),
        &visit(None, 0, 900_000, None),
        &policy,
        day(3),
    );
    let pending = d.allocation.clone().expect("needs allocation");
    assert!(pending.lock_on_assign.is_some());
    let assigned = assign_allocated(
        &d.next,
        &"li".into(),
        HistoryReason::DailyEvenSplit,
        &pending,
        day(3),
    );
    let reasons: Vec<HistoryReason> = assigned.history.iter().map(|e| e.reason).collect();
    assert_eq!(
        reasons,
        [HistoryReason::DailyEvenSplit, HistoryReason::ValueLock]
    );
    assert_eq!(owner(&assigned.next), Some("li"));
    assert!(assigned.next.is_locked());
}

#[test]
fn manual_unlock_keeps_the_owner_and_is_not_undone_by_the_next_booking() {
    let policy = policy(LockOwnerOnCrossing::OwnerBeforeContact);
    let locked = decide_on_contact(
        &OwnerState {
            owner: Some("zhang".into()),
            lock: None,
        },
        &visit(Some("zhang"), 0, 600_000, None),
        &policy,
        day(0),
    )
    .next;
    let d = unlock_manually(&locked, day(5));
    assert_eq!(
        d.outcome(),
        Outcome::Unlocked {
            reason: HistoryReason::Unlock
        }
    );
    assert_eq!(owner(&d.next), Some("zhang"));
    let unlocked = d.next;
    assert!(
        unlock_manually(&unlocked, day(6)).is_fast_path(),
        "unlocking twice is a no-op"
    );

    let d = decide_on_contact(
        &unlocked,
        &visit(Some("wang"), 600_000, 650_000, Some(day(0))),
        &policy,
        day(7),
    );
    assert_eq!(
        d.outcome(),
        Outcome::Change {
            to: "wang".into(),
            reason: HistoryReason::LastContact
        }
    );
    assert!(!d.next.is_locked());
}

#[test]
fn without_a_threshold_only_last_contact_applies() {
    let policy = AssignmentPolicy::try_from(AssignmentPolicySpec::default()).expect("valid");
    let state = OwnerState {
        owner: Some("zhang".into()),
        lock: None,
    };
    let d = decide_on_contact(
        &state,
        &visit(Some("wang"), 0, i64::MAX, None),
        &policy,
        day(0),
    );
    assert_eq!(
        d.outcome(),
        Outcome::Change {
            to: "wang".into(),
            reason: HistoryReason::LastContact
        }
    );
    assert!(!d.next.is_locked());
}

#[test]
fn a_lock_without_expiry_never_expires() {
    let policy = AssignmentPolicy::try_from(AssignmentPolicySpec {
        value_lock_threshold_fen: Some(THRESHOLD_FEN),
        lock_expiry_days: None,
        ..Default::default()
    })
    .expect("valid");
    let locked = decide_on_contact(
        &OwnerState::default(),
        &visit(Some("zhang"), 0, THRESHOLD_FEN, None),
        &policy,
        day(0),
    )
    .next;
    assert!(locked.is_locked());
    assert!(expire_lock_if_due(&locked, None, &policy, day(10_000)).is_fast_path());
}

#[test]
fn manual_lock_needs_an_owner_and_is_idempotent() {
    assert!(lock_manually(&OwnerState::default(), day(0)).is_none());
    let owned = OwnerState {
        owner: Some("wang".into()),
        lock: None,
    };
    let d = lock_manually(&owned, day(1)).expect("has an owner");
    assert!(d.next.is_locked());
    assert_eq!(d.history.len(), 1);
    assert_eq!(d.history[0].reason, HistoryReason::ManualLock);
    assert_eq!(owner(&d.next), Some("wang"));
    let again = lock_manually(&d.next, day(2)).expect("has an owner");
    assert!(again.is_fast_path());
    // A manual lock holds against another manager's booking like a value lock.
    let moved = decide_on_contact(
        &d.next,
        &booking(Some("zhang"), 0, Some(day(1))),
        &policy(LockOwnerOnCrossing::OwnerBeforeContact),
        day(3),
    );
    assert!(moved.is_fast_path());
}

#[test]
fn spend_already_past_a_new_threshold_locks_the_owner() {
    let policy = policy(LockOwnerOnCrossing::OwnerBeforeContact);
    let owned = OwnerState {
        owner: Some("wang".into()),
        lock: None,
    };
    // Above the threshold without a crossing (it was set after the spend): locked to the owner.
    let d = lock_reached_threshold(&owned, &policy, THRESHOLD_FEN + 11_000, day(3))
        .expect("reaches the threshold");
    assert_eq!(owner(&d.next), Some("wang"));
    assert_eq!(
        d.next.lock.map(|l| l.reason),
        Some(LockReason::ValueThreshold {
            counted_spend_fen: THRESHOLD_FEN + 11_000,
            threshold_fen: THRESHOLD_FEN
        })
    );
    assert_eq!(d.history.len(), 1);
    assert_eq!(d.history[0].reason, HistoryReason::ValueLock);
    assert!(matches!(d.outcome(), Outcome::Lock { owner } if owner.as_str() == "wang"));
    // Nothing to do below the threshold, without an owner, when locked, without a lock policy.
    assert!(lock_reached_threshold(&owned, &policy, THRESHOLD_FEN - 1, day(3)).is_none());
    assert!(
        lock_reached_threshold(&OwnerState::default(), &policy, THRESHOLD_FEN, day(3)).is_none()
    );
    assert!(lock_reached_threshold(&d.next, &policy, THRESHOLD_FEN, day(4)).is_none());
    let no_lock = AssignmentPolicy::try_from(AssignmentPolicySpec::default()).expect("valid");
    assert!(lock_reached_threshold(&owned, &no_lock, i64::MAX, day(3)).is_none());
}
