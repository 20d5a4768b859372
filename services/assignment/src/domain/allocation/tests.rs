//! Unit tests of the store strategies.

use chrono::{Duration, NaiveDate, TimeZone, Utc};

use super::*;
use crate::domain::policy::AssignmentPolicySpec;
use crate::domain::roster::Manager;
use crate::domain::roster::tests::manager;

fn roster(managers: Vec<Manager>) -> Roster {
    Roster::new(managers).expect("distinct ids")
}

fn on(id: &str) -> Manager {
    manager(id, &["s1"], ManagerStatus::OnDuty, None)
}

fn tally(pairs: &[(&str, u64)]) -> Tally {
    pairs
        .iter()
        .map(|(n, v)| (ManagerId::from(*n), *v))
        .collect()
}

fn request<'a>(
    store: &'a StoreId,
    roster: &'a Roster,
    owned: &'a Tally,
    tie_offset: u64,
) -> StoreAllocation<'a> {
    StoreAllocation {
        store_id: store,
        roster,
        owned_customers: owned,
        tie_offset,
    }
}

fn winner(allocation: &Allocation) -> Option<&str> {
    match allocation {
        Allocation::Assigned { manager_id, .. } => Some(manager_id.as_str()),
        Allocation::Unassigned { .. } => None,
    }
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

#[test]
fn rotation_duty_walks_the_members_day_by_day() {
    let store = StoreId::from("s1");
    let roster = roster(vec![
        on("a"),
        on("b"),
        on("c"),
        manager("x", &["s1"], ManagerStatus::Left, None),
    ]);
    let first = NaiveDate::from_ymd_opt(2025, 10, 1).expect("valid date");
    let duties: Vec<ManagerId> = (0..6)
        .filter_map(|d| daily_rotation_duty(&roster, &store, first + Duration::days(d)))
        .collect();
    assert_eq!(duties.len(), 6);
    assert_eq!(duties[0..3], duties[3..6]);
    let mut distinct = duties[0..3].to_vec();
    distinct.sort();
    assert_eq!(
        distinct,
        vec![
            ManagerId::from("a"),
            ManagerId::from("b"),
            ManagerId::from("c")
        ]
    );
    assert_eq!(daily_rotation_duty(&roster, &"s2".into(), first), None);
}

#[test]
fn rotation_gives_the_whole_day_to_one_receiver_and_skips_the_absent() {
    let store = StoreId::from("s1");
    let date = NaiveDate::from_ymd_opt(2025, 10, 1).expect("valid date");
    let all_on = roster(vec![on("a"), on("b"), on("c")]);
    let duty = daily_rotation_duty(&all_on, &store, date).expect("members");
    let owned = Tally::new();
    for offset in 0..5 {
        let got = allocate_daily_rotation(&request(&store, &all_on, &owned, offset), date)
            .expect("members");
        assert_eq!(
            got,
            Allocation::Assigned {
                manager_id: duty.clone(),
                reason: HistoryReason::DailyRotation
            }
        );
    }
    // The duty manager is off today: the next member in roster order takes the day.
    let members = ["a", "b", "c"];
    let duty_index = members
        .iter()
        .position(|m| *m == duty.as_str())
        .expect("member");
    let with_absence = roster(
        members
            .iter()
            .map(|m| {
                if *m == duty.as_str() {
                    manager(m, &["s1"], ManagerStatus::OffDuty, None)
                } else {
                    on(m)
                }
            })
            .collect(),
    );
    let got =
        allocate_daily_rotation(&request(&store, &with_absence, &owned, 0), date).expect("members");
    assert_eq!(winner(&got), Some(members[(duty_index + 1) % 3]));
    // Being off for a day does not shift the rotation.
    assert_eq!(daily_rotation_duty(&with_absence, &store, date), Some(duty));
}

#[test]
fn allocate_for_store_uses_the_store_local_day() {
    let store = StoreId::from("s1");
    let roster = roster(vec![on("a"), on("b")]);
    let policy = AssignmentPolicy::try_from(AssignmentPolicySpec {
        strategy: AllocationStrategy::DailyRotation,
        ..Default::default()
    })
    .expect("valid");
    // 17:00 UTC on Oct 1 is already Oct 2 in Shanghai.
    let now = Utc
        .with_ymd_and_hms(2025, 10, 1, 17, 0, 0)
        .single()
        .expect("valid");
    let shanghai_day = NaiveDate::from_ymd_opt(2025, 10, 2).expect("valid date");
    let empty = Tally::new();
    let counters = StoreCounters {
        today: &empty,
        this_month: &empty,
    };
    let got = allocate_for_store(
        &policy,
        &request(&store, &roster, &empty, 0),
        &counters,
        now,
    )
    .expect("members");
    let expected = daily_rotation_duty(&roster, &store, shanghai_day).expect("members");
    assert_eq!(winner(&got), Some(expected.as_str()));
    assert_ne!(
        daily_rotation_duty(&roster, &store, shanghai_day),
        daily_rotation_duty(&roster, &store, shanghai_day - Duration::days(1))
    );
}
