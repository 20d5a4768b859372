//! Unit and property tests of single and bulk transfers.

use chrono::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::domain::roster::tests::manager;
use crate::domain::value_lock::{LockReason, ValueLock};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 9, 0, 0)
        .single()
        .expect("valid")
}

fn locked_to(owner: &str) -> OwnerState {
    OwnerState {
        owner: Some(owner.into()),
        lock: Some(ValueLock {
            locked_at: now(),
            reason: LockReason::ValueThreshold {
                counted_spend_fen: 600_000,
                threshold_fen: 500_000,
            },
        }),
    }
}

fn customers(n: usize) -> Vec<CustomerId> {
    (0..n)
        .map(|i| CustomerId::new(format!("c{i:03}")))
        .collect()
}

#[test]
fn single_transfer_moves_the_lock_with_the_customer() {
    let li = manager("li", &["s1"], ManagerStatus::OffDuty, Some(10));
    let d = transfer_customer(
        &locked_to("zhang"),
        &li,
        3,
        LockOnTransfer::MoveWithCustomer,
        now(),
    )
    .expect("room");
    assert_eq!(d.next.owner, Some("li".into()));
    assert!(d.next.is_locked());
    assert_eq!(d.history.len(), 1);
    assert_eq!(d.history[0].reason, HistoryReason::Transfer);
    assert!(d.history[0].locked_after);
}

#[test]
fn transfer_and_release_records_the_unlock() {
    let li = manager("li", &["s1"], ManagerStatus::OnDuty, None);
    let d = transfer_customer(&locked_to("zhang"), &li, 0, LockOnTransfer::Release, now())
        .expect("room");
    let reasons: Vec<HistoryReason> = d.history.iter().map(|e| e.reason).collect();
    assert_eq!(reasons, [HistoryReason::Unlock, HistoryReason::Transfer]);
    assert!(!d.next.is_locked());
}

#[test]
fn transfer_to_departed_or_full_manager_is_refused() {
    let gone = manager("wang", &["s1"], ManagerStatus::Left, None);
    assert_eq!(
        transfer_customer(
            &locked_to("zhang"),
            &gone,
            0,
            LockOnTransfer::default(),
            now()
        ),
        Err(AssignmentError::ManagerLeft {
            manager_id: "wang".into()
        })
    );
    let full = manager("li", &["s1"], ManagerStatus::OnDuty, Some(2));
    assert_eq!(
        transfer_customer(
            &locked_to("zhang"),
            &full,
            2,
            LockOnTransfer::default(),
            now()
        ),
        Err(AssignmentError::ManagerAtCapacity {
            manager_id: "li".into(),
            max_customers: 2
        })
    );
    // Already theirs: a no-op, even when full.
    let d = transfer_customer(&locked_to("li"), &full, 2, LockOnTransfer::default(), now())
        .expect("no-op");
    assert!(d.is_fast_path());
}

fn roster() -> Roster {
    Roster::new(vec![
        manager("a", &["s1"], ManagerStatus::OnDuty, Some(3)),
        manager("b", &["s1"], ManagerStatus::OnDuty, None),
        manager("c", &["s1"], ManagerStatus::OffDuty, None),
        manager("gone", &["s1"], ManagerStatus::Left, None),
    ])
    .expect("distinct ids")
}

#[test]
fn bulk_spread_is_even_and_respects_capacity() {
    let roster = roster();
    let list = customers(10);
    let targets = BulkTargets::SpreadEvenly(vec!["c".into(), "a".into(), "b".into()]);
    let owned = Tally::from([(ManagerId::from("a"), 1)]);
    let request = BulkTransferRequest {
        from: &"gone".into(),
        customers: &list,
        targets: &targets,
        roster: &roster,
        owned_customers: &owned,
    };
    let plan = plan_bulk_transfer(&request).expect("enough room");
    assert_eq!(plan.moves.len(), 10);
    let received = plan.received();
    assert_eq!(received[&ManagerId::from("a")], 2, "a had room for 2 only");
    assert_eq!(received[&ManagerId::from("b")], 4);
    assert_eq!(received[&ManagerId::from("c")], 4);
    assert_eq!(
        plan_bulk_transfer(&request),
        Ok(plan.clone()),
        "deterministic"
    );

    // Locks move with the customer.
    let d = apply_planned_move(&locked_to("gone"), &plan.moves[0], now());
    assert!(d.next.is_locked());
    assert_eq!(d.history[0].reason, HistoryReason::BulkTransfer);
}

#[test]
fn bulk_to_one_checks_that_managers_room() {
    let roster = roster();
    let list = customers(3);
    let owned = Tally::from([(ManagerId::from("a"), 1)]);
    let to_a = BulkTargets::ToOne("a".into());
    let request = BulkTransferRequest {
        from: &"gone".into(),
        customers: &list,
        targets: &to_a,
        roster: &roster,
        owned_customers: &owned,
    };
    assert_eq!(
        plan_bulk_transfer(&request),
        Err(AssignmentError::ManagerAtCapacity {
            manager_id: "a".into(),
            max_customers: 3
        })
    );
    let to_b = BulkTargets::ToOne("b".into());
    let request = BulkTransferRequest {
        targets: &to_b,
        ..request
    };
    let plan = plan_bulk_transfer(&request).expect("unlimited");
    assert!(plan.moves.iter().all(|m| m.to == ManagerId::from("b")));
}

#[test]
fn bulk_rejects_bad_targets_by_name() {
    let roster = roster();
    let list = customers(2);
    let owned = Tally::new();
    let cases = [
        (
            BulkTargets::SpreadEvenly(vec![]),
            AssignmentError::NoTransferTargets { field: "targets" },
        ),
        (
            BulkTargets::ToOne("gone".into()),
            AssignmentError::TransferToSameManager {
                manager_id: "gone".into(),
            },
        ),
        (
            BulkTargets::SpreadEvenly(vec!["b".into(), "nobody".into()]),
            AssignmentError::UnknownManager {
                manager_id: "nobody".into(),
            },
        ),
    ];
    for (targets, expected) in cases {
        let request = BulkTransferRequest {
            from: &"gone".into(),
            customers: &list,
            targets: &targets,
            roster: &roster,
            owned_customers: &owned,
        };
        assert_eq!(plan_bulk_transfer(&request), Err(expected));
    }
    let request = BulkTransferRequest {
        from: &"a".into(),
        customers: &list,
        targets: &BulkTargets::ToOne("gone".into()),
        roster: &roster,
        owned_customers: &owned,
    };
    assert_eq!(
        plan_bulk_transfer(&request),
        Err(AssignmentError::ManagerLeft {
            manager_id: "gone".into()
        })
    );
}

proptest! {
    /// Every customer placed once, nobody over capacity, and received counts within one of
    /// each other unless the one with fewer is full.
    #[test]
    fn bulk_plan_is_even_and_within_capacity(
        capacities in proptest::collection::vec(proptest::option::of(1u64..12), 1..6),
        owned_counts in proptest::collection::vec(0u64..6, 6),
        customer_count in 0usize..50,
    ) {
        let managers: Vec<Manager> = capacities
            .iter()
            .enumerate()
            .map(|(i, cap)| manager(&format!("t{i}"), &["s1"], ManagerStatus::OnDuty, cap.map(|c| c + owned_counts[i])))
            .collect();
        let roster = Roster::new(managers).expect("distinct ids");
        let owned: Tally = (0..capacities.len()).map(|i| (ManagerId::new(format!("t{i}")), owned_counts[i])).collect();
        let ids: Vec<ManagerId> = (0..capacities.len()).map(|i| ManagerId::new(format!("t{i}"))).collect();
        let targets = BulkTargets::SpreadEvenly(ids.clone());
        let list = customers(customer_count);
        let request = BulkTransferRequest { from: &"gone".into(), customers: &list, targets: &targets, roster: &roster, owned_customers: &owned };
        let free: Vec<Option<u64>> = capacities.clone();
        let total_free: Option<u64> = free.iter().try_fold(0u64, |sum, f| f.map(|f| sum + f));
        match plan_bulk_transfer(&request) {
            Err(AssignmentError::InsufficientCapacity { customers, free_capacity }) => {
                prop_assert_eq!(customers, customer_count as u64);
                prop_assert_eq!(Some(free_capacity), total_free);
                prop_assert!(free_capacity < customers);
            }
            Err(other) => return Err(TestCaseError::fail(format!("unexpected {other}"))),
            Ok(plan) => {
                let mut placed: Vec<CustomerId> = plan.moves.iter().map(|m| m.customer_id.clone()).collect();
                placed.sort();
                prop_assert_eq!(&placed, &list);
                let received = plan.received();
                for (i, target) in ids.iter().enumerate() {
                    let got = tally_of(&received, target);
                    if let Some(room) = free[i] {
                        prop_assert!(got <= room);
                    }
                    for (j, other) in ids.iter().enumerate() {
                        let other_got = tally_of(&received, other);
                        if got > other_got + 1 {
                            prop_assert_eq!(Some(other_got), free[j], "{} got {} while {} had room", target, got, other);
                        }
                    }
                }
            }
        }
    }
}
