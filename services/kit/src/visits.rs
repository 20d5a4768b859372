//! What a visit is, for every service that counts visits (profile's statistics, tagging's
//! rule facts and models): a guest's orders on one store-local calendar day are one visit
//! (profile contract `Aggregates.visits`; the FHL 2005 / CDNOW convention the models use).
//! The zone of the store the order was placed in decides the day, never the server's or a
//! fixed chain zone. Owns the definition only; who stores which days is each service's.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

/// The store-local calendar day of an order placed at `at` in a store of `zone`.
pub fn visit_date(at: DateTime<Utc>, zone: Tz) -> NaiveDate {
    at.with_timezone(&zone).date_naive()
}

/// [`visit_date`] as days since 1970-01-01 (the compact form services store).
pub fn visit_day(at: DateTime<Utc>, zone: Tz) -> i32 {
    day_number(visit_date(at, zone))
}

/// Days since 1970-01-01 of `date`.
pub fn day_number(date: NaiveDate) -> i32 {
    // 719_163 = days from 0001-01-01 (CE day 1) to 1970-01-01.
    date.num_days_from_ce() - 719_163
}

/// How many visits orders on `days` are: the number of distinct days, in any order.
pub fn count_visits<D: Ord>(days: impl IntoIterator<Item = D>) -> u64 {
    let mut days: Vec<D> = days.into_iter().collect();
    days.sort_unstable();
    days.dedup();
    u64::try_from(days.len()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn orders_on_one_store_local_day_are_one_visit() {
        // 2024-03-01 15:30Z is 23:30 on the 1st in Shanghai; 16:30Z is 00:30 on the 2nd.
        let zone = chrono_tz::Asia::Shanghai;
        let orders = [
            Utc.with_ymd_and_hms(2024, 3, 1, 4, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2024, 3, 1, 15, 30, 0).unwrap(),
            Utc.with_ymd_and_hms(2024, 3, 1, 16, 30, 0).unwrap(),
        ];
        assert_eq!(
            count_visits(orders.iter().map(|at| visit_day(*at, zone))),
            2
        );
        // In New York all three are on Feb 29th / Mar 1st differently: 04:00Z is the 29th.
        let new_york = chrono_tz::America::New_York;
        assert_eq!(
            visit_date(orders[0], new_york),
            NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()
        );
        assert_eq!(
            count_visits(orders.iter().map(|at| visit_day(*at, new_york))),
            2
        );
        assert_eq!(count_visits(Vec::<i32>::new()), 0);
    }

    #[test]
    fn day_numbers_count_from_the_unix_epoch() {
        assert_eq!(day_number(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()), 0);
        assert_eq!(
            day_number(NaiveDate::from_ymd_opt(2024, 3, 1).unwrap()),
            19_783
        );
    }
}
