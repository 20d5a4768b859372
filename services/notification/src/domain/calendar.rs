//! Store-local calendar arithmetic for date triggers: when a birthday or anniversary is observed in a
//! given year and how many days away the next one is. Birthdays on 29 February are observed on
//! 28 February in non-leap years (issue rule), so such guests are greeted every year.

use chrono::{Datelike, NaiveDate};

/// The date a yearly occasion that fell on `original` is observed in `year`.
pub fn observed_in_year(original: NaiveDate, year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, original.month(), original.day()).or_else(|| {
        // Only 29 February can be missing from a year.
        NaiveDate::from_ymd_opt(year, 2, 28)
            .filter(|_| original.month() == 2 && original.day() == 29)
    })
}

/// The next observed occurrence on or after `store_today`.
pub fn next_observed(original: NaiveDate, store_today: NaiveDate) -> Option<NaiveDate> {
    let this_year = observed_in_year(original, store_today.year())?;
    if this_year >= store_today {
        Some(this_year)
    } else {
        observed_in_year(original, store_today.year().checked_add(1)?)
    }
}

/// Whole days from `store_today` to the next observed occurrence (0 on the day itself).
pub fn days_until_next(original: NaiveDate, store_today: NaiveDate) -> Option<i64> {
    next_observed(original, store_today).map(|next| (next - store_today).num_days())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
    }

    #[test]
    fn leap_day_birthday_is_observed_on_feb_28_in_common_years() {
        assert_eq!(
            observed_in_year(date(1992, 2, 29), 2025),
            Some(date(2025, 2, 28))
        );
        assert_eq!(
            observed_in_year(date(1992, 2, 29), 2028),
            Some(date(2028, 2, 29))
        );
    }

    #[test]
    fn next_occurrence_wraps_over_new_year() {
        assert_eq!(
            next_observed(date(1990, 1, 2), date(2025, 12, 30)),
            Some(date(2026, 1, 2))
        );
        assert_eq!(
            days_until_next(date(1990, 1, 2), date(2025, 12, 30)),
            Some(3)
        );
    }

    #[test]
    fn birthday_today_is_zero_days_away() {
        assert_eq!(
            days_until_next(date(1985, 6, 15), date(2025, 6, 15)),
            Some(0)
        );
        assert_eq!(
            days_until_next(date(1985, 6, 15), date(2025, 6, 16)),
            Some(364)
        );
    }

    #[test]
    fn leap_day_birthday_countdown_in_common_year() {
        assert_eq!(
            days_until_next(date(2000, 2, 29), date(2025, 2, 25)),
            Some(3)
        );
        // After 28 Feb 2027 the next observation is the real 29 Feb 2028.
        assert_eq!(
            next_observed(date(2000, 2, 29), date(2027, 3, 1)),
            Some(date(2028, 2, 29))
        );
    }
}
