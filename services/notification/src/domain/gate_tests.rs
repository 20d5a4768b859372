use chrono::{NaiveTime, TimeZone};

use super::super::consent::ChannelConsent;
use super::*;

fn at(hour_utc: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, hour_utc, 0, 0)
        .single()
        .expect("valid instant")
}

fn quiet() -> QuietHours {
    let time = |h| NaiveTime::from_hms_opt(h, 0, 0).expect("valid time");
    QuietHours::new(time(21), time(9), chrono_tz::Asia::Shanghai).expect("valid quiet hours")
}

fn marketing_sms() -> OutgoingMessage {
    OutgoingMessage {
        channel: Channel::Sms,
        purpose: MessagePurpose::Marketing,
        dedup_key: super::super::dedup::dedup_key(
            &super::super::trigger::Occurrence::Birthday {
                customer_id: super::super::channel::CustomerId::new("c1"),
                observed_on: chrono::NaiveDate::from_ymd_opt(2025, 6, 2).expect("valid"),
                days_before: 0,
            },
            &super::super::dedup::DedupScope::Customer,
        ),
        dedup_key_already_sent: false,
        expires_at: None,
    }
}

fn opted_in() -> ConsentState {
    ConsentState::new().with(Channel::Sms, ChannelConsent::OptedIn { at: at(0) })
}

// 04:00Z is 12:00 in Shanghai (outside quiet hours); 14:00Z is 22:00 (inside).
const NOON_SHANGHAI: u32 = 4;
const TEN_PM_SHANGHAI: u32 = 14;

#[test]
fn consented_marketing_at_noon_is_sent() {
    let decision = gate(
        &marketing_sms(),
        &opted_in(),
        Some(&quiet()),
        at(NOON_SHANGHAI),
    );
    assert_eq!(decision, GateDecision::Send);
}

#[test]
fn duplicate_is_suppressed_before_anything_else() {
    let message = OutgoingMessage {
        dedup_key_already_sent: true,
        ..marketing_sms()
    };
    let decision = gate(
        &message,
        &ConsentState::new(),
        Some(&quiet()),
        at(TEN_PM_SHANGHAI),
    );
    assert_eq!(
        decision,
        GateDecision::Suppress(SuppressionReason::Duplicate)
    );
}

#[test]
fn consent_refusals_are_named() {
    let no_consent = gate(
        &marketing_sms(),
        &ConsentState::new(),
        None,
        at(NOON_SHANGHAI),
    );
    assert_eq!(
        no_consent,
        GateDecision::Suppress(SuppressionReason::NoConsent)
    );
    let opted_out = ConsentState::new().with(Channel::Sms, ChannelConsent::OptedOut { at: at(0) });
    let decision = gate(&marketing_sms(), &opted_out, None, at(NOON_SHANGHAI));
    assert_eq!(
        decision,
        GateDecision::Suppress(SuppressionReason::OptedOut)
    );
}

#[test]
fn service_message_needs_no_opt_in() {
    let message = OutgoingMessage {
        purpose: MessagePurpose::Service,
        ..marketing_sms()
    };
    assert_eq!(
        gate(&message, &ConsentState::new(), None, at(NOON_SHANGHAI)),
        GateDecision::Send
    );
}

#[test]
fn transactional_and_staff_messages_ignore_quiet_hours() {
    let transactional = OutgoingMessage {
        purpose: MessagePurpose::Transactional,
        ..marketing_sms()
    };
    assert_eq!(
        gate(
            &transactional,
            &ConsentState::new(),
            Some(&quiet()),
            at(TEN_PM_SHANGHAI)
        ),
        GateDecision::Send
    );
    let staff = OutgoingMessage {
        channel: Channel::StaffInbox,
        ..marketing_sms()
    };
    assert_eq!(
        gate(
            &staff,
            &ConsentState::new(),
            Some(&quiet()),
            at(TEN_PM_SHANGHAI)
        ),
        GateDecision::Send
    );
}

#[test]
fn expired_or_expiring_during_quiet_hours_is_suppressed() {
    let expired = OutgoingMessage {
        expires_at: Some(at(NOON_SHANGHAI)),
        ..marketing_sms()
    };
    assert_eq!(
        gate(&expired, &opted_in(), None, at(NOON_SHANGHAI)),
        GateDecision::Suppress(SuppressionReason::Expired)
    );
    // Expires at 23:00 Shanghai, but quiet hours last until 09:00 next day.
    let expiring = OutgoingMessage {
        expires_at: Some(at(15)),
        ..marketing_sms()
    };
    assert_eq!(
        gate(&expiring, &opted_in(), Some(&quiet()), at(TEN_PM_SHANGHAI)),
        GateDecision::Suppress(SuppressionReason::Expired)
    );
}

#[test]
fn suppression_reasons_have_stable_names() {
    let names: Vec<_> = [
        SuppressionReason::NoConsent,
        SuppressionReason::OptedOut,
        SuppressionReason::FrequencyCap,
        SuppressionReason::Duplicate,
        SuppressionReason::Expired,
    ]
    .into_iter()
    .map(SuppressionReason::as_str)
    .collect();
    assert_eq!(
        names,
        [
            "no_consent",
            "opted_out",
            "frequency_cap",
            "duplicate",
            "expired"
        ]
    );
}
