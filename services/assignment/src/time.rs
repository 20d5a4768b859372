//! Time conversions at the edges: stored microseconds, chrono, and protobuf timestamps.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

use crate::error::Error;

/// A stored microsecond count as a UTC time (out-of-range values clamp to the epoch).
pub fn from_micros(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

pub fn to_timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A stored time as a protobuf timestamp; `None` for 0 (never).
pub fn micros_to_timestamp(micros: i64) -> Option<Timestamp> {
    (micros != 0).then(|| to_timestamp(from_micros(micros)))
}

/// A request timestamp, validated; `field` names it in the error.
pub fn parse_timestamp(field: &str, timestamp: Option<&Timestamp>) -> Result<DateTime<Utc>, Error> {
    let timestamp = timestamp.ok_or_else(|| Error::invalid(field, "is required"))?;
    let nanos = u32::try_from(timestamp.nanos)
        .map_err(|_| Error::invalid(field, "nanos must not be negative"))?;
    DateTime::from_timestamp(timestamp.seconds, nanos)
        .ok_or_else(|| Error::invalid(field, "is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_and_bad_ones_name_the_field() {
        let at = from_micros(1_700_000_000_123_456);
        let parsed = parse_timestamp("occurred_at", Some(&to_timestamp(at))).expect("valid");
        assert_eq!(parsed, at);
        assert_eq!(micros_to_timestamp(0), None);
        let bad = Timestamp {
            seconds: 1,
            nanos: -1,
        };
        assert!(matches!(
            parse_timestamp("occurred_at", Some(&bad)),
            Err(Error::InvalidArgument { field, .. }) if field == "occurred_at"
        ));
        assert!(parse_timestamp("occurred_at", None).is_err());
    }
}
