//! Property tests of the even split as production runs it (the balance picks, on the
//! in-process coordinator): "even split stays within one" while managers join, leave, go off
//! duty and fill up mid-day; rotation never favours roster position 0.

use proptest::prelude::*;

use super::tests::allocate_daily_even_split;
use super::*;
use crate::domain::roster::ManagerStatus;
use crate::domain::roster::tests::manager;

const POOL: usize = 5;

#[derive(Debug, Clone)]
enum Step {
    Allocate,
    Join(usize),
    Leave(usize),
    OffDuty(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => Just(Step::Allocate),
        1 => (0..POOL).prop_map(Step::Join),
        1 => (0..POOL).prop_map(Step::Leave),
        1 => (0..POOL).prop_map(Step::OffDuty),
    ]
}

fn id(index: usize) -> ManagerId {
    ManagerId::new(format!("m{index}"))
}

fn spread(today: &Tally, among: &[ManagerId]) -> u64 {
    let counts: Vec<u64> = among.iter().map(|m| tally_of(today, m)).collect();
    match (counts.iter().max(), counts.iter().min()) {
        (Some(max), Some(min)) => max - min,
        _ => 0,
    }
}

proptest! {
    /// Every pick goes to a lowest count among those eligible, so (1) the spread among the
    /// eligible never grows past one, and (2) two managers eligible at every pick so far
    /// stay within one of each other — whoever joins, leaves or fills up around them.
    #[test]
    fn daily_even_split_stays_within_one(
        initial in proptest::collection::vec(any::<bool>(), POOL),
        capacity in proptest::collection::vec(proptest::option::of(1u64..15), POOL),
        steps in proptest::collection::vec(step(), 1..120),
        start_offset in any::<u32>(),
    ) {
        let store = StoreId::from("s1");
        let mut status: Vec<ManagerStatus> = initial
            .iter()
            .map(|on| if *on { ManagerStatus::OnDuty } else { ManagerStatus::OffDuty })
            .collect();
        let mut today = Tally::new();
        let mut owned = Tally::new();
        let mut offset = u64::from(start_offset);
        // Managers eligible at every allocation so far.
        let mut always: Option<Vec<ManagerId>> = None;
        for step in steps {
            match step {
                Step::Join(i) => status[i] = ManagerStatus::OnDuty,
                Step::Leave(i) => status[i] = ManagerStatus::Left,
                Step::OffDuty(i) => status[i] = ManagerStatus::OffDuty,
                Step::Allocate => {
                    let roster = Roster::new(
                        (0..POOL).map(|i| manager(&format!("m{i}"), &["s1"], status[i], capacity[i])).collect(),
                    ).expect("distinct ids");
                    let eligible = roster.eligible_for_allocation(&store, &owned);
                    let request = StoreAllocation { store_id: &store, roster: &roster, owned_customers: &owned, tie_offset: offset };
                    let before = spread(&today, &eligible);
                    match allocate_daily_even_split(&request, &today) {
                        Err(AssignmentError::NoEligibleManagers { .. }) => {
                            prop_assert!(status.iter().all(|s| *s == ManagerStatus::Left));
                            continue;
                        }
                        Err(other) => return Err(TestCaseError::fail(format!("unexpected {other}"))),
                        Ok(Allocation::Unassigned { .. }) => {
                            prop_assert!(eligible.is_empty());
                            continue;
                        }
                        Ok(Allocation::Assigned { manager_id, reason }) => {
                            prop_assert_eq!(reason, HistoryReason::DailyEvenSplit);
                            prop_assert!(eligible.contains(&manager_id));
                            *today.entry(manager_id.clone()).or_insert(0) += 1;
                            *owned.entry(manager_id).or_insert(0) += 1;
                            offset += 1;
                        }
                    }
                    prop_assert!(spread(&today, &eligible) <= before.max(1));
                    let still: Vec<ManagerId> = match always.take() {
                        None => eligible.clone(),
                        Some(previous) => previous.into_iter().filter(|m| eligible.contains(m)).collect(),
                    };
                    prop_assert!(spread(&today, &still) <= 1, "today {:?} among {:?}", today, still);
                    always = Some(still);
                }
            }
        }
        // Capacity is never exceeded.
        for (i, cap) in capacity.iter().enumerate() {
            if let Some(cap) = cap {
                prop_assert!(tally_of(&owned, &id(i)) <= *cap);
            }
        }
    }

    /// With a fixed roster and the never-reset rotation counter, lifetime totals over any
    /// sequence of days of any sizes stay within one: no roster position collects the
    /// remainders of uneven days.
    #[test]
    fn rotation_does_not_favour_any_roster_position(
        managers in 2usize..6,
        per_day in proptest::collection::vec(0usize..9, 1..25),
    ) {
        let store = StoreId::from("s1");
        let roster = Roster::new(
            (0..managers).map(|i| manager(&format!("m{i}"), &["s1"], ManagerStatus::OnDuty, None)).collect(),
        ).expect("distinct ids");
        let owned = Tally::new();
        let mut totals = Tally::new();
        let mut offset = 0_u64;
        for customers in per_day {
            let mut today = Tally::new();
            for _ in 0..customers {
                let request = StoreAllocation { store_id: &store, roster: &roster, owned_customers: &owned, tie_offset: offset };
                let got = allocate_daily_even_split(&request, &today).expect("members");
                let Allocation::Assigned { manager_id, .. } = got else {
                    return Err(TestCaseError::fail("unlimited on-duty managers must be assigned"));
                };
                *today.entry(manager_id.clone()).or_insert(0) += 1;
                *totals.entry(manager_id).or_insert(0) += 1;
                offset += 1;
            }
            let ids: Vec<ManagerId> = (0..managers).map(id).collect();
            prop_assert!(spread(&today, &ids) <= 1);
        }
        let ids: Vec<ManagerId> = (0..managers).map(id).collect();
        prop_assert!(spread(&totals, &ids) <= 1, "totals {:?}", totals);
    }

}
