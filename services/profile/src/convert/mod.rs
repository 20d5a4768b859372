//! Conversions between the contract's messages and the domain types, with every bad
//! value reported by its API field path. No I/O here.

pub mod event;
pub mod policy;
pub mod profile;

use chrono::{DateTime, Utc};
use maitre_proto::common::v1::{IdentityKey as ProtoKey, IdentityKind};
use prost_types::Timestamp;

use crate::{
    domain::{
        identity::{IdentityKey, KeyInput, KeyKind, KeyText, parse_key},
        phone::MaskedPhone,
    },
    error::{Error, Result},
};

/// A timestamp from microseconds since the epoch.
pub fn timestamp_us(us: i64) -> Timestamp {
    Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: i32::try_from(us.rem_euclid(1_000_000) * 1_000).unwrap_or(0),
    }
}

/// A timestamp from a UTC time.
pub fn timestamp(at: DateTime<Utc>) -> Timestamp {
    timestamp_us(at.timestamp_micros())
}

/// A UTC time from a required timestamp field.
pub fn time_of(field: &str, ts: Option<&Timestamp>) -> Result<DateTime<Utc>> {
    let ts = ts.ok_or_else(|| Error::invalid(field, "is required"))?;
    let nanos = u32::try_from(ts.nanos).map_err(|_| Error::invalid(field, "negative nanos"))?;
    DateTime::<Utc>::from_timestamp(ts.seconds, nanos)
        .ok_or_else(|| Error::invalid(field, "out of range"))
}

/// The domain's kind of a contract key kind; `None` for UNSPECIFIED or unknown numbers.
pub fn key_kind(kind: i32) -> Option<KeyKind> {
    Some(match IdentityKind::try_from(kind).ok()? {
        IdentityKind::Phone => KeyKind::Phone,
        IdentityKind::WechatUnionid => KeyKind::WechatUnionid,
        IdentityKind::WechatOpenid => KeyKind::WechatOpenid,
        IdentityKind::PlatformUser => KeyKind::Platform,
        IdentityKind::MemberCard => KeyKind::MemberCard,
        IdentityKind::MaskedPhone => KeyKind::MaskedPhone,
        IdentityKind::Unspecified => return None,
    })
}

/// The contract's kind of a domain key kind.
pub fn proto_kind(kind: KeyKind) -> IdentityKind {
    match kind {
        KeyKind::Phone => IdentityKind::Phone,
        KeyKind::WechatUnionid => IdentityKind::WechatUnionid,
        KeyKind::WechatOpenid => IdentityKind::WechatOpenid,
        KeyKind::Platform => IdentityKind::PlatformUser,
        KeyKind::MemberCard => IdentityKind::MemberCard,
        KeyKind::MaskedPhone => IdentityKind::MaskedPhone,
    }
}

/// Identity keys parsed from the contract, plus a masked phone kept as a hint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedKeys {
    pub keys: Vec<IdentityKey>,
    pub masked_phone_hint: Option<MaskedPhone>,
}

/// Parses `keys`, naming a bad one as `{field}[i].kind` or `{field}[i].value`.
pub fn parse_keys(field: &str, keys: &[ProtoKey]) -> Result<ParsedKeys> {
    let mut parsed = ParsedKeys::default();
    for (index, key) in keys.iter().enumerate() {
        let kind = key_kind(key.kind).ok_or_else(|| {
            Error::invalid(format!("{field}[{index}].kind"), "unknown identity kind")
        })?;
        let text = KeyText {
            field: &format!("{field}[{index}]"),
            kind,
            value: &key.value,
            app_id: &key.app_id,
        };
        match parse_key(text).map_err(|e| Error::field("", &e))? {
            KeyInput::Key(key) if !parsed.keys.contains(&key) => parsed.keys.push(key),
            KeyInput::Key(_) => {}
            KeyInput::Hint(mask) => parsed.masked_phone_hint = Some(mask),
        }
    }
    Ok(parsed)
}

/// One required key (LookupCustomer): a masked phone is not enough.
pub fn parse_one_key(field: &str, key: Option<&ProtoKey>) -> Result<IdentityKey> {
    let key = key.ok_or_else(|| Error::invalid(field, "is required"))?;
    let kind = key_kind(key.kind)
        .ok_or_else(|| Error::invalid(format!("{field}.kind"), "unknown identity kind"))?;
    let value_field = format!("{field}.value");
    let text = KeyText {
        field,
        kind,
        value: &key.value,
        app_id: &key.app_id,
    };
    match parse_key(text).map_err(|e| Error::field("", &e))? {
        KeyInput::Key(key) => Ok(key),
        KeyInput::Hint(_) => Err(Error::invalid(
            value_field,
            "a masked phone never identifies a customer",
        )),
    }
}

/// The contract's form of a domain key.
pub fn proto_key(key: &IdentityKey) -> ProtoKey {
    let parts = key.parts();
    ProtoKey {
        kind: proto_kind(parts.kind) as i32,
        value: parts.value,
        app_id: parts.app_id,
    }
}

/// A required id field.
pub fn required<'a>(field: &str, value: &'a str) -> Result<&'a str> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    if value.chars().count() > 128 {
        return Err(Error::invalid(field, "longer than 128 characters"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_micros() {
        let ts = timestamp_us(1_700_000_000_123_456);
        let at = time_of("t", Some(&ts)).unwrap();
        assert_eq!(at.timestamp_micros(), 1_700_000_000_123_456);
        assert!(time_of("t", None).is_err());
    }

    #[test]
    fn keys_name_their_index() {
        let keys = [
            ProtoKey {
                kind: IdentityKind::Phone as i32,
                value: "138 0013 8000".into(),
                ..Default::default()
            },
            ProtoKey {
                kind: IdentityKind::Phone as i32,
                value: "12".into(),
                ..Default::default()
            },
        ];
        let Err(Error::InvalidArgument { field, .. }) = parse_keys("event.identity_keys", &keys)
        else {
            panic!("the malformed phone is refused")
        };
        assert_eq!(field, "event.identity_keys[1].value");
        let ok = parse_keys("k", &keys[..1]).unwrap();
        assert_eq!(ok.keys[0].canonical(), "phone:+8613800138000");
        assert_eq!(proto_key(&ok.keys[0]).value, "+8613800138000");
    }
}
