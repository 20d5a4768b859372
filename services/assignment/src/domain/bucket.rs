//! Store-local calendar buckets for the allocation counters: "today" and "this month" are
//! the store's, not UTC's (a Shanghai store's day starts at 16:00 UTC). The service builds
//! its Redis and table keys from [`DayBucket::key_segment`] / [`MonthBucket::key_segment`]
//! so every replica and the in-process coordinator count into the same bucket.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

/// The calendar date at the store at `now`.
pub fn store_local_date(now: DateTime<Utc>, zone: Tz) -> NaiveDate {
    now.with_timezone(&zone).date_naive()
}

/// One store-local day, e.g. key segment `day:2025-10-30`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DayBucket(pub NaiveDate);

impl DayBucket {
    pub fn at(now: DateTime<Utc>, zone: Tz) -> Self {
        Self(store_local_date(now, zone))
    }

    pub fn date(self) -> NaiveDate {
        self.0
    }

    pub fn month(self) -> MonthBucket {
        MonthBucket::of_date(self.0)
    }

    pub fn key_segment(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for DayBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "day:{}", self.0.format("%Y-%m-%d"))
    }
}

/// One store-local calendar month, e.g. key segment `month:2025-10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MonthBucket {
    pub year: i32,
    pub month: u32,
}

impl MonthBucket {
    pub fn at(now: DateTime<Utc>, zone: Tz) -> Self {
        Self::of_date(store_local_date(now, zone))
    }

    pub fn of_date(date: NaiveDate) -> Self {
        Self {
            year: date.year(),
            month: date.month(),
        }
    }

    pub fn key_segment(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for MonthBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "month:{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::America::New_York;
    use chrono_tz::Asia::Shanghai;

    #[test]
    fn shanghai_day_starts_at_16_utc() {
        let before = Utc
            .with_ymd_and_hms(2025, 10, 30, 15, 59, 59)
            .single()
            .expect("valid");
        let after = Utc
            .with_ymd_and_hms(2025, 10, 30, 16, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(
            DayBucket::at(before, Shanghai).key_segment(),
            "day:2025-10-30"
        );
        assert_eq!(
            DayBucket::at(after, Shanghai).key_segment(),
            "day:2025-10-31"
        );
    }

    #[test]
    fn month_follows_the_store_not_utc() {
        let utc_evening = Utc
            .with_ymd_and_hms(2025, 10, 31, 17, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(
            MonthBucket::at(utc_evening, Shanghai).key_segment(),
            "month:2025-11"
        );
        assert_eq!(
            MonthBucket::at(utc_evening, New_York).key_segment(),
            "month:2025-10"
        );
        assert_eq!(
            DayBucket::at(utc_evening, Shanghai).month(),
            MonthBucket {
                year: 2025,
                month: 11
            }
        );
    }
}
