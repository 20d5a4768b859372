//! Property tests of 按天轮换: every member is on duty once per cycle. (The even splits'
//! properties run on the balance picks production runs: `app::allocate`.)

use chrono::{Duration, NaiveDate};

use proptest::prelude::*;

use super::*;
use crate::domain::roster::tests::manager;

fn id(index: usize) -> ManagerId {
    ManagerId::new(format!("m{index}"))
}

proptest! {
    /// 按天轮换: any `members` consecutive days put every member on duty exactly once.
    #[test]
    fn rotation_duty_covers_every_member_once_per_cycle(
        managers in 1usize..7,
        first_day in 0i64..20_000,
    ) {
        let store = StoreId::from("s1");
        let roster = Roster::new(
            (0..managers).map(|i| manager(&format!("m{i}"), &["s1"], ManagerStatus::OnDuty, None)).collect(),
        ).expect("distinct ids");
        let base = NaiveDate::from_ymd_opt(1990, 1, 1).expect("valid date") + Duration::days(first_day);
        let mut duties: Vec<ManagerId> = (0..managers as i64)
            .filter_map(|d| daily_rotation_duty(&roster, &store, base + Duration::days(d)))
            .collect();
        duties.sort();
        let expected: Vec<ManagerId> = (0..managers).map(id).collect();
        prop_assert_eq!(duties, expected);
    }

}
