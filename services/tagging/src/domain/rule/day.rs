//! The calendar rules count in: days since the Unix epoch in the store's local date.

use chrono::{Datelike, NaiveDate};

/// Days since 1970-01-01 in the store-local calendar.
pub type EpochDay = i32;

/// Days from 0001-01-01 (day 1 in chrono's common-era count) to 1970-01-01.
const UNIX_EPOCH_FROM_CE: i32 = 719_163;

pub fn epoch_day(date: NaiveDate) -> EpochDay {
    date.num_days_from_ce() - UNIX_EPOCH_FROM_CE
}

/// The calendar date of `day`; `None` outside chrono's range.
pub fn date_of(day: EpochDay) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(day.checked_add(UNIX_EPOCH_FROM_CE)?)
}
