//! Unit tests of 按天轮换 (the even splits are tested on what runs them: `app::allocate`).

use chrono::{Duration, NaiveDate};

use super::*;
use crate::domain::roster::Manager;
use crate::domain::roster::tests::manager;

pub(crate) fn roster(managers: Vec<Manager>) -> Roster {
    Roster::new(managers).expect("distinct ids")
}

pub(crate) fn on(id: &str) -> Manager {
    manager(id, &["s1"], ManagerStatus::OnDuty, None)
}

pub(crate) fn request<'a>(
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

pub(crate) fn winner(allocation: &Allocation) -> Option<&str> {
    match allocation {
        Allocation::Assigned { manager_id, .. } => Some(manager_id.as_str()),
        Allocation::Unassigned { .. } => None,
    }
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
