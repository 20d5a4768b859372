//! Unit tests of the even splits, on the picks production runs ([`even_split_on_counts`]:
//! `pick_even_split` on the in-process coordinator, whose Redis twin kit proves equal).

use super::*;
use crate::domain::allocation::tests::{on, request, roster, winner};
use crate::domain::roster::ManagerStatus;
use crate::domain::roster::tests::manager;

fn tally(pairs: &[(&str, u64)]) -> Tally {
    pairs
        .iter()
        .map(|(n, v)| (ManagerId::from(*n), *v))
        .collect()
}

/// The store's counts for the current store-local day and month.
#[derive(Debug, Clone, Copy)]
pub(super) struct StoreCounters<'a> {
    pub today: &'a Tally,
    pub this_month: &'a Tally,
}

/// What `Engine::allocate` does for an even split, minus the database: who may be picked
/// (`eligible_or_pool`), then [`even_split_on_counts`] — the production picks on the
/// in-process coordinator.
pub(super) fn even_split(
    request: &StoreAllocation<'_>,
    strategy: AllocationStrategy,
    counters: &StoreCounters<'_>,
    monthly_daily_cap: Option<u64>,
) -> Result<Allocation, AssignmentError> {
    let candidates = match eligible_or_pool(request)? {
        Ok(candidates) => candidates,
        Err(reason) => return Ok(Allocation::Unassigned { reason }),
    };
    let split = EvenSplit {
        strategy,
        monthly_daily_cap,
        tie_offset: request.tie_offset,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let picked = runtime
        .block_on(even_split_on_counts(
            &split,
            &candidates,
            counters.today,
            counters.this_month,
        ))
        .expect("in-process coordination never fails on valid picks");
    Ok(match picked {
        Some(manager_id) => Allocation::Assigned {
            manager_id,
            reason: strategy_reason(strategy),
        },
        None => Allocation::Unassigned {
            reason: PoolReason::AllAtCapacity,
        },
    })
}

pub(super) fn allocate_daily_even_split(
    request: &StoreAllocation<'_>,
    today: &Tally,
) -> Result<Allocation, AssignmentError> {
    let month = Tally::new();
    let counters = StoreCounters {
        today,
        this_month: &month,
    };
    even_split(request, AllocationStrategy::DailyEvenSplit, &counters, None)
}

pub(super) fn allocate_monthly_even_split(
    request: &StoreAllocation<'_>,
    counters: &StoreCounters<'_>,
    daily_cap: Option<u64>,
) -> Result<Allocation, AssignmentError> {
    even_split(
        request,
        AllocationStrategy::MonthlyEvenSplit,
        counters,
        daily_cap,
    )
}

#[test]
fn daily_even_split_gives_the_fewest_today() {
    let store = StoreId::from("s1");
    let roster = roster(vec![on("a"), on("b"), on("c")]);
    let owned = Tally::new();
    let today = tally(&[("a", 2), ("b", 1), ("c", 2)]);
    let got = allocate_daily_even_split(&request(&store, &roster, &owned, 0), &today)
        .expect("store has managers");
    assert_eq!(
        got,
        Allocation::Assigned {
            manager_id: "b".into(),
            reason: HistoryReason::DailyEvenSplit
        }
    );
}

#[test]
fn daily_even_split_skips_off_duty_left_and_full_managers() {
    let store = StoreId::from("s1");
    let roster = roster(vec![
        manager("a", &["s1"], ManagerStatus::OffDuty, None),
        manager("b", &["s1"], ManagerStatus::Left, None),
        manager("c", &["s1"], ManagerStatus::OnDuty, Some(10)),
        on("d"),
    ]);
    let owned = tally(&[("c", 10)]);
    let today = tally(&[("d", 7)]);
    let got =
        allocate_daily_even_split(&request(&store, &roster, &owned, 0), &today).expect("members");
    assert_eq!(winner(&got), Some("d"));
}

#[test]
fn nobody_with_room_means_the_pool_not_an_error() {
    let store = StoreId::from("s1");
    let roster = roster(vec![manager("a", &["s1"], ManagerStatus::OnDuty, Some(1))]);
    let owned = tally(&[("a", 1)]);
    let got = allocate_daily_even_split(&request(&store, &roster, &owned, 0), &Tally::new())
        .expect("members");
    assert_eq!(
        got,
        Allocation::Unassigned {
            reason: PoolReason::AllAtCapacity
        }
    );

    let roster = self::roster(vec![manager("a", &["s1"], ManagerStatus::OffDuty, None)]);
    let got = allocate_daily_even_split(&request(&store, &roster, &Tally::new(), 0), &Tally::new())
        .expect("members");
    assert_eq!(
        got,
        Allocation::Unassigned {
            reason: PoolReason::NoneOnDuty
        }
    );
}

#[test]
fn a_store_without_managers_is_a_typed_error() {
    let store = StoreId::from("s9");
    let roster = roster(vec![
        on("a"),
        manager("b", &["s9"], ManagerStatus::Left, None),
    ]);
    let err = allocate_daily_even_split(&request(&store, &roster, &Tally::new(), 0), &Tally::new())
        .expect_err("no members in s9");
    assert_eq!(err, AssignmentError::NoEligibleManagers { store_id: store });
}

#[test]
fn joining_mid_day_keeps_everyone_elses_counts() {
    let store = StoreId::from("s1");
    let owned = Tally::new();
    let mut today = Tally::new();
    let mut offset = 0;
    let mut run = |roster: &Roster, today: &mut Tally, picks: usize| {
        for _ in 0..picks {
            let got = allocate_daily_even_split(&request(&store, roster, &owned, offset), today)
                .expect("members");
            offset += 1;
            let id = ManagerId::from(winner(&got).expect("assigned"));
            *today.entry(id).or_insert(0) += 1;
        }
    };
    run(&roster(vec![on("a"), on("b")]), &mut today, 6);
    assert_eq!(today, tally(&[("a", 3), ("b", 3)]));
    // c joins: a and b keep 3 each; c catches up first, then the rotation resumes.
    run(&roster(vec![on("a"), on("b"), on("c")]), &mut today, 4);
    assert_eq!(today, tally(&[("a", 4), ("b", 3), ("c", 3)]));
    // b leaves mid-day: a and c keep their counts, b's count is not handed to anyone.
    run(&roster(vec![on("a"), on("c")]), &mut today, 1);
    assert_eq!(today, tally(&[("a", 4), ("b", 3), ("c", 4)]));
}

#[test]
fn roster_position_zero_does_not_collect_every_remainder() {
    // 3 managers, 10 days of 4 customers: with a never-reset rotation counter the leftover
    // customer of each day walks around the roster.
    let store = StoreId::from("s1");
    let roster = roster(vec![on("a"), on("b"), on("c")]);
    let owned = Tally::new();
    let mut totals = Tally::new();
    let mut offset = 0;
    for _day in 0..10 {
        let mut today = Tally::new();
        for _ in 0..4 {
            let got = allocate_daily_even_split(&request(&store, &roster, &owned, offset), &today)
                .expect("members");
            offset += 1;
            let id = ManagerId::from(winner(&got).expect("assigned"));
            *today.entry(id.clone()).or_insert(0) += 1;
            *totals.entry(id).or_insert(0) += 1;
        }
    }
    let max = totals.values().max().copied().unwrap_or(0);
    let min = totals.values().min().copied().unwrap_or(0);
    assert_eq!(totals.values().sum::<u64>(), 40);
    assert!(max - min <= 1, "totals {totals:?}");
}

#[test]
fn monthly_split_prefers_the_fewest_this_month() {
    let store = StoreId::from("s1");
    let roster = roster(vec![on("a"), on("b")]);
    let owned = Tally::new();
    let month = tally(&[("a", 30), ("b", 12)]);
    let today = tally(&[("a", 0), ("b", 4)]);
    let counters = StoreCounters {
        today: &today,
        this_month: &month,
    };
    let got = allocate_monthly_even_split(&request(&store, &roster, &owned, 0), &counters, None)
        .expect("members");
    assert_eq!(
        got,
        Allocation::Assigned {
            manager_id: "b".into(),
            reason: HistoryReason::MonthlyEvenSplit
        }
    );
}

#[test]
fn monthly_catch_up_is_limited_by_the_daily_cap() {
    // "back" returns from leave with 0 this month; the others have 20. Cap 3 a day.
    let store = StoreId::from("s1");
    let roster = roster(vec![on("a"), on("back"), on("c")]);
    let owned = Tally::new();
    let mut month = tally(&[("a", 20), ("back", 0), ("c", 20)]);
    let mut today = Tally::new();
    let mut received = Vec::new();
    for offset in 0..12 {
        let counters = StoreCounters {
            today: &today,
            this_month: &month,
        };
        let got = allocate_monthly_even_split(
            &request(&store, &roster, &owned, offset),
            &counters,
            Some(3),
        )
        .expect("members");
        let id = ManagerId::from(winner(&got).expect("never the pool: someone has room"));
        *today.entry(id.clone()).or_insert(0) += 1;
        *month.entry(id.clone()).or_insert(0) += 1;
        received.push(id);
    }
    let back_first: Vec<&str> = received.iter().take(3).map(|id| id.as_str()).collect();
    assert_eq!(back_first, ["back", "back", "back"]);
    // After the cap the others take turns, and once all three are capped the overflow is
    // split by today's counts, so nobody is more than one ahead today.
    assert_eq!(today[&ManagerId::from("back")], 4);
    assert_eq!(today[&ManagerId::from("a")], 4);
    assert_eq!(today[&ManagerId::from("c")], 4);
}
