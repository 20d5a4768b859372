use chrono::{NaiveDate, NaiveTime};
use proptest::prelude::*;

use super::*;

fn time(hour: u32, minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour, minute, 0).expect("valid test time")
}

fn utc(y: i32, m: u32, d: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(y, m, d)
        .expect("valid test date")
        .and_time(time(hour, minute))
        .and_utc()
}

fn shanghai_night() -> QuietHours {
    QuietHours::new(time(21, 0), time(9, 0), chrono_tz::Asia::Shanghai).expect("valid quiet hours")
}

#[test]
fn empty_window_and_unknown_zone_are_rejected() {
    assert_eq!(
        QuietHours::new(time(9, 0), time(9, 0), chrono_tz::UTC),
        Err(PolicyError::QuietHoursEmpty { time: time(9, 0) })
    );
    assert_eq!(
        QuietHours::with_zone_name(time(21, 0), time(9, 0), "Mars/Olympus"),
        Err(PolicyError::UnknownTimeZone {
            value: "Mars/Olympus".into()
        })
    );
    assert!(QuietHours::with_zone_name(time(21, 0), time(9, 0), "Asia/Shanghai").is_ok());
}

#[test]
fn window_spanning_midnight_contains_both_sides() {
    let quiet = shanghai_night();
    assert!(quiet.contains_local_time(time(21, 0)));
    assert!(quiet.contains_local_time(time(23, 59)));
    assert!(quiet.contains_local_time(time(0, 0)));
    assert!(quiet.contains_local_time(time(8, 59)));
    assert!(!quiet.contains_local_time(time(9, 0)));
    assert!(!quiet.contains_local_time(time(20, 59)));
}

#[test]
fn evening_message_is_deferred_to_next_morning_store_time() {
    // 22:00 in Shanghai (UTC+8) is 14:00Z; the window ends at 09:00 local next day = 01:00Z.
    assert_eq!(
        shanghai_night().defer_until(utc(2025, 6, 1, 14, 0)),
        Some(utc(2025, 6, 2, 1, 0))
    );
}

#[test]
fn early_morning_message_is_deferred_to_same_morning() {
    // 03:00 local on 2 June is 19:00Z on 1 June.
    assert_eq!(
        shanghai_night().defer_until(utc(2025, 6, 1, 19, 0)),
        Some(utc(2025, 6, 2, 1, 0))
    );
}

#[test]
fn daytime_message_is_not_deferred() {
    assert_eq!(shanghai_night().defer_until(utc(2025, 6, 1, 4, 0)), None);
}

#[test]
fn window_not_spanning_midnight() {
    let lunch_rush =
        QuietHours::new(time(11, 30), time(13, 0), chrono_tz::Asia::Shanghai).expect("valid");
    assert_eq!(
        lunch_rush.defer_until(utc(2025, 6, 1, 4, 0)),
        Some(utc(2025, 6, 1, 5, 0))
    );
    assert_eq!(lunch_rush.defer_until(utc(2025, 6, 1, 5, 0)), None);
}

#[test]
fn end_inside_spring_forward_gap_moves_to_the_transition() {
    // New York, 2025-03-09: 02:00 EST jumps to 03:00 EDT (07:00Z). 02:30 does not exist that day.
    let quiet =
        QuietHours::new(time(22, 0), time(2, 30), chrono_tz::America::New_York).expect("valid");
    let now = utc(2025, 3, 9, 6, 30); // 01:30 EST
    assert_eq!(quiet.defer_until(now), Some(utc(2025, 3, 9, 7, 0)));
}

#[test]
fn end_inside_fall_back_overlap_takes_the_later_instant() {
    // New York, 2025-11-02: 02:00 EDT falls back to 01:00 EST; 01:30 happens at 05:30Z and 06:30Z.
    let quiet =
        QuietHours::new(time(22, 0), time(1, 30), chrono_tz::America::New_York).expect("valid");
    let now = utc(2025, 11, 2, 3, 0); // 23:00 EDT on 1 Nov
    assert_eq!(quiet.defer_until(now), Some(utc(2025, 11, 2, 6, 30)));
}

#[test]
fn dst_changes_the_utc_instant_of_the_same_local_end() {
    let quiet = QuietHours::new(time(21, 0), time(9, 0), chrono_tz::Europe::London).expect("valid");
    // Winter: 09:00 GMT = 09:00Z. Summer: 09:00 BST = 08:00Z.
    assert_eq!(
        quiet.defer_until(utc(2025, 1, 10, 22, 0)),
        Some(utc(2025, 1, 11, 9, 0))
    );
    assert_eq!(
        quiet.defer_until(utc(2025, 7, 10, 21, 0)),
        Some(utc(2025, 7, 11, 8, 0))
    );
}

const ZONES: [Tz; 8] = [
    chrono_tz::Asia::Shanghai,
    chrono_tz::America::New_York,
    chrono_tz::Europe::London,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::America::Santiago,
    chrono_tz::Pacific::Apia,
    chrono_tz::Asia::Kolkata,
    chrono_tz::UTC,
];

proptest! {
    #[test]
    fn deferral_is_never_inside_quiet_hours_nor_before_now(
        zone_index in 0..ZONES.len(),
        start_minute in 0u32..1440,
        end_minute in 0u32..1440,
        now_s in 946_684_800i64..2_208_988_800i64,
    ) {
        prop_assume!(start_minute != end_minute);
        let start = NaiveTime::from_num_seconds_from_midnight_opt(start_minute * 60, 0).expect("minute of day");
        let end = NaiveTime::from_num_seconds_from_midnight_opt(end_minute * 60, 0).expect("minute of day");
        let quiet = QuietHours::new(start, end, ZONES[zone_index]).expect("distinct times");
        let now = DateTime::from_timestamp(now_s, 0).expect("in range");
        match quiet.defer_until(now) {
            Some(until) => {
                prop_assert!(quiet.contains(now));
                prop_assert!(until > now);
                prop_assert!(!quiet.contains(until), "deferred into quiet hours: {until}");
                prop_assert!(until - now <= Duration::hours(48));
            }
            None => prop_assert!(!quiet.contains(now)),
        }
    }
}
