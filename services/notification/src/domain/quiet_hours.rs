//! Quiet hours in store-local time (e.g. 21:00–09:00, spanning midnight): a guest message due inside them
//! is deferred to the exact UTC instant the window ends, computed with the store's IANA zone so daylight
//! saving gaps and overlaps are handled (ARCHITECTURE.md "Delivery": quiet hours in store-local time).

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::error::PolicyError;

/// A validated daily quiet window `[start, end)` in the store's zone; `start > end` spans midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    start: NaiveTime,
    end: NaiveTime,
    time_zone: Tz,
}

/// How far past a non-existent local time we look for the end of a daylight-saving gap. The longest
/// real gap is a whole skipped day (Pacific/Apia, 2011-12-30).
const MAX_GAP_MINUTES: i64 = 48 * 60;

impl QuietHours {
    pub fn new(start: NaiveTime, end: NaiveTime, time_zone: Tz) -> Result<Self, PolicyError> {
        if start == end {
            return Err(PolicyError::QuietHoursEmpty { time: start });
        }
        Ok(Self {
            start,
            end,
            time_zone,
        })
    }

    /// Parses the zone name as stored in configuration (e.g. "Asia/Shanghai").
    pub fn with_zone_name(
        start: NaiveTime,
        end: NaiveTime,
        time_zone: &str,
    ) -> Result<Self, PolicyError> {
        let zone = time_zone
            .parse::<Tz>()
            .map_err(|_| PolicyError::UnknownTimeZone {
                value: time_zone.to_string(),
            })?;
        Self::new(start, end, zone)
    }

    pub fn start(&self) -> NaiveTime {
        self.start
    }

    pub fn end(&self) -> NaiveTime {
        self.end
    }

    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// Whether a store-local wall-clock time is inside the window.
    pub fn contains_local_time(&self, time: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        }
    }

    /// Whether an instant falls inside the window, judged by the store's wall clock at that instant.
    pub fn contains(&self, instant: DateTime<Utc>) -> bool {
        self.contains_local_time(instant.with_timezone(&self.time_zone).time())
    }

    /// The instant a message due at `now` may go out: `None` when `now` is outside quiet hours, otherwise
    /// the first instant at or after the window's end that is itself outside quiet hours.
    pub fn defer_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.contains(now) {
            return None;
        }
        let mut candidate = self.next_end_after(now);
        // The end can land in a DST gap whose far side is already the next window (only for windows of
        // nearly 24 hours); stepping window by window settles within a few rounds.
        for _ in 0..4 {
            if !self.contains(candidate) {
                return Some(candidate);
            }
            candidate = self.next_end_after(candidate);
        }
        Some(candidate)
    }

    /// The end of the window that contains `instant`, as a UTC instant strictly after `instant`.
    fn next_end_after(&self, instant: DateTime<Utc>) -> DateTime<Utc> {
        let local = instant.with_timezone(&self.time_zone).naive_local();
        let spans_midnight = self.start > self.end;
        let end_date = if spans_midnight && local.time() >= self.start {
            local.date().succ_opt().unwrap_or(local.date())
        } else {
            local.date()
        };
        let end_local = end_date.and_time(self.end);
        let resolved = self
            .resolve_local(end_local)
            .unwrap_or(instant + Duration::minutes(1));
        if resolved > instant {
            resolved
        } else {
            instant + Duration::minutes(1)
        }
    }

    /// Maps a store-local wall time to UTC. In an overlap (clocks turned back) the later instant is
    /// taken, so the wall clock does not re-enter the window afterwards; in a gap (clocks turned forward)
    /// the first instant after the gap is taken, which is the transition itself.
    fn resolve_local(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        for minutes in 0..=MAX_GAP_MINUTES {
            let probe = local + Duration::minutes(minutes);
            match self.time_zone.from_local_datetime(&probe) {
                LocalResult::Single(at) => return Some(at.with_timezone(&Utc)),
                LocalResult::Ambiguous(_, later) => return Some(later.with_timezone(&Utc)),
                LocalResult::None => continue,
            }
        }
        None
    }
}

#[cfg(test)]
#[path = "quiet_hours_tests.rs"]
mod tests;
