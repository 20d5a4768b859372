//! Conversions between the contract (`maitre_proto`) and the domain vocabulary: channels, purposes,
//! statuses and timestamps. Owns no rule; an unknown enum value is an `INVALID_ARGUMENT` naming the field.

use chrono::{DateTime, Utc};
use maitre_proto::common::v1::MessageChannel;
use maitre_proto::events::v1::MessageStatus;
use maitre_proto::notification::v1::MessagePurpose as ProtoPurpose;

use crate::domain::channel::{Channel, MessagePurpose};
use crate::domain::error::TemplateError;
use crate::error::{Error, Result};

/// The domain channel of a proto channel; `UNSPECIFIED` and unknown values are refused.
pub fn channel_from_proto(field: &str, value: i32) -> Result<Channel> {
    match MessageChannel::try_from(value) {
        Ok(MessageChannel::Sms) => Ok(Channel::Sms),
        Ok(MessageChannel::Wechat) => Ok(Channel::Wechat),
        Ok(MessageChannel::Email) => Ok(Channel::Email),
        Ok(MessageChannel::AppPush) => Ok(Channel::AppPush),
        Ok(MessageChannel::StaffInbox) => Ok(Channel::StaffInbox),
        _ => Err(Error::invalid(field, "a message channel is required")),
    }
}

/// The proto channel of a domain channel.
pub fn channel_to_proto(channel: Channel) -> MessageChannel {
    match channel {
        Channel::Sms => MessageChannel::Sms,
        Channel::Wechat => MessageChannel::Wechat,
        Channel::Email => MessageChannel::Email,
        Channel::AppPush => MessageChannel::AppPush,
        Channel::StaffInbox => MessageChannel::StaffInbox,
    }
}

/// The stored name of a channel back to the channel.
pub fn channel_from_str(value: &str) -> Option<Channel> {
    Channel::ALL.into_iter().find(|c| c.as_str() == value)
}

/// The domain purpose of a proto purpose for `channel`. `STAFF` is only for the staff inbox, where no
/// guest rule applies (stored as transactional: no consent, no cap, no quiet hours).
pub fn purpose_from_proto(field: &str, value: i32, channel: Channel) -> Result<MessagePurpose> {
    match (ProtoPurpose::try_from(value), channel) {
        (Ok(ProtoPurpose::Staff), Channel::StaffInbox) => Ok(MessagePurpose::Transactional),
        (Ok(ProtoPurpose::Staff), _) => Err(Error::invalid(
            field,
            "staff purpose is only for the staff inbox channel",
        )),
        (Ok(ProtoPurpose::Marketing), _) => Ok(MessagePurpose::Marketing),
        (Ok(ProtoPurpose::Service), _) => Ok(MessagePurpose::Service),
        // The staff inbox has a single purpose; an unset purpose there means it.
        (Ok(ProtoPurpose::Unspecified), Channel::StaffInbox) => Ok(MessagePurpose::Transactional),
        _ => Err(Error::invalid(field, "a message purpose is required")),
    }
}

/// The proto purpose of a stored purpose.
pub fn purpose_to_proto(purpose: MessagePurpose) -> ProtoPurpose {
    match purpose {
        MessagePurpose::Marketing => ProtoPurpose::Marketing,
        MessagePurpose::Service => ProtoPurpose::Service,
        MessagePurpose::Transactional => ProtoPurpose::Staff,
    }
}

/// The stored name of a purpose back to the purpose.
pub fn purpose_from_str(value: &str) -> Option<MessagePurpose> {
    [
        MessagePurpose::Marketing,
        MessagePurpose::Service,
        MessagePurpose::Transactional,
    ]
    .into_iter()
    .find(|p| p.as_str() == value)
}

/// Stored status names (the domain's plus `suppressed` and `responded`, which the gate and replies set).
pub fn status_to_proto(status: &str) -> MessageStatus {
    match status {
        "queued" | "sending" => MessageStatus::Queued,
        "sent" => MessageStatus::Sent,
        "delivered" => MessageStatus::Delivered,
        "failed" => MessageStatus::Failed,
        "dead" => MessageStatus::Dead,
        "suppressed" => MessageStatus::Suppressed,
        "responded" => MessageStatus::Responded,
        "unknown" => MessageStatus::Unknown,
        _ => MessageStatus::Unspecified,
    }
}

/// The stored status names a proto status filter selects.
pub fn status_filter(status: MessageStatus) -> &'static [&'static str] {
    match status {
        MessageStatus::Unspecified => &[],
        MessageStatus::Queued => &["queued", "sending"],
        MessageStatus::Sent => &["sent"],
        MessageStatus::Delivered => &["delivered"],
        MessageStatus::Failed => &["failed"],
        MessageStatus::Dead => &["dead"],
        MessageStatus::Suppressed => &["suppressed"],
        MessageStatus::Responded => &["responded"],
        MessageStatus::Unknown => &["unknown"],
    }
}

/// A protobuf timestamp of microseconds since the epoch.
pub fn timestamp_from_us(us: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: i32::try_from(us.rem_euclid(1_000_000) * 1000).unwrap_or(0),
    }
}

/// Microseconds since the epoch of a protobuf timestamp; `None` when out of range.
pub fn timestamp_to_utc(ts: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).ok()?)
}

/// The request field a template error concerns (`template.body` or `template.subject`).
pub fn template_error_field(error: &TemplateError) -> &'static str {
    match error {
        TemplateError::UnclosedPlaceholder { field, .. }
        | TemplateError::UnmatchedClosingBraces { field, .. }
        | TemplateError::EmptyPlaceholder { field, .. }
        | TemplateError::InvalidVariableName { field, .. }
        | TemplateError::UnknownVariable { field, .. }
        | TemplateError::ExpectedDefaultString { field, .. }
        | TemplateError::UnterminatedDefault { field, .. }
        | TemplateError::UnexpectedCharacter { field, .. }
        | TemplateError::SourceTooLong { field, .. }
        | TemplateError::MissingValue { field, .. }
        | TemplateError::RenderedTooLong { field, .. } => {
            if *field == "subject" {
                "subject"
            } else {
                "body"
            }
        }
        TemplateError::SubjectRequired { .. } | TemplateError::SubjectNotSupported { .. } => {
            "subject"
        }
        TemplateError::TooManySmsSegments { .. } => "body",
    }
}

/// The guest's contacts as profile told them.
pub fn contacts_from_proto(
    told: &maitre_proto::events::v1::GuestContacts,
) -> crate::domain::contacts::Contacts {
    use crate::domain::contacts::{Contacts, WechatOpenid};
    Contacts {
        phone_e164: told.phone_e164.clone(),
        wechat_openids: told
            .wechat_openids
            .iter()
            .map(|o| WechatOpenid {
                appid: o.appid.clone(),
                openid: o.openid.clone(),
            })
            .collect(),
        wecom_external_userid: told.wecom_external_userid.clone(),
        email: told.email.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_round_trip_and_unspecified_is_refused() {
        for channel in Channel::ALL {
            let proto = channel_to_proto(channel) as i32;
            assert_eq!(channel_from_proto("c", proto).ok(), Some(channel));
            assert_eq!(channel_from_str(channel.as_str()), Some(channel));
        }
        assert!(channel_from_proto("template.channel", 0).is_err());
        assert!(channel_from_proto("template.channel", 99).is_err());
    }

    #[test]
    fn staff_purpose_only_on_the_inbox() {
        assert!(purpose_from_proto("p", ProtoPurpose::Staff as i32, Channel::Sms).is_err());
        assert_eq!(
            purpose_from_proto("p", ProtoPurpose::Staff as i32, Channel::StaffInbox).ok(),
            Some(MessagePurpose::Transactional)
        );
        assert!(purpose_from_proto("p", 0, Channel::Sms).is_err());
    }

    #[test]
    fn timestamps_round_trip_in_microseconds() {
        let ts = timestamp_from_us(1_700_000_000_123_456);
        assert_eq!(ts.seconds, 1_700_000_000);
        assert_eq!(ts.nanos, 123_456_000);
        let back = timestamp_to_utc(&ts).map(|t| t.timestamp_micros());
        assert_eq!(back, Some(1_700_000_000_123_456));
    }

    proptest::proptest! {
        #[test]
        fn any_microsecond_instant_round_trips(us in -62_000_000_000_000_000i64..250_000_000_000_000_000i64) {
            let ts = timestamp_from_us(us);
            proptest::prop_assert!((0..1_000_000_000).contains(&ts.nanos));
            proptest::prop_assert_eq!(timestamp_to_utc(&ts).map(|t| t.timestamp_micros()), Some(us));
        }
    }
}
