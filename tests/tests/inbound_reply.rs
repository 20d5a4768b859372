//! An SMS reply arrives with the sender's phone only: notification asks profile who that is
//! (with the caller's token, so within the caller's chain) and applies the reply to them.

use maitre_kit::{
    auth::Role,
    client::outgoing,
    testing::{Backend, token},
};
use maitre_proto::{
    common::v1::{EventChannel, IdentityKey, IdentityKind, MessageChannel},
    events::v1::ContactKind,
    notification::v1::{self as npb, notification_service_client::NotificationServiceClient},
    profile::v1::{self as ppb, profile_service_client::ProfileServiceClient},
};
use maitre_tests::System;
use tonic::{Code, transport::Channel};

const CHAIN: &str = "chain-replies";

fn phone(value: &str) -> IdentityKey {
    IdentityKey {
        kind: IdentityKind::Phone as i32,
        value: value.into(),
        ..Default::default()
    }
}

fn reply(sender: &str, text: &str) -> npb::RecordInboundReplyRequest {
    npb::RecordInboundReplyRequest {
        channel: MessageChannel::Sms as i32,
        sender: Some(phone(sender)),
        text: text.into(),
        ..Default::default()
    }
}

async fn replies_are_matched_to_the_sender(backend: Backend) {
    let system = System::start(backend).await;
    let admin = token(CHAIN, Role::HqAdmin, "admin", &[]);
    let connect = |url: &str| Channel::from_shared(url.to_owned()).unwrap().connect_lazy();
    let mut profile = ProfileServiceClient::new(connect(&system.profile.url));
    let mut notification = NotificationServiceClient::new(connect(&system.notification.url));

    profile
        .create_store(outgoing(
            ppb::CreateStoreRequest {
                store: Some(ppb::Store {
                    store_id: "s1".into(),
                    name: "Store".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &admin,
        ))
        .await
        .expect("store");
    let customer = profile
        .record_event(outgoing(
            ppb::RecordEventRequest {
                event: Some(ppb::ContactEvent {
                    channel: EventChannel::Pos as i32,
                    external_id: "pos-1".into(),
                    kind: ContactKind::Visit as i32,
                    identity_keys: vec![phone("+8613800138000")],
                    store_id: "s1".into(),
                    occurred_at: Some(prost_types::Timestamp {
                        seconds: chrono::Utc::now().timestamp() - 3_600,
                        nanos: 0,
                    }),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .expect("visit")
        .into_inner()
        .customer
        .expect("customer")
        .customer_id;
    notification
        .update_customer_preferences(outgoing(
            npb::UpdateCustomerPreferencesRequest {
                preferences: Some(npb::CustomerPreferences {
                    customer_id: customer.clone(),
                    marketing_opt_in: vec![MessageChannel::Sms as i32],
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["marketing_opt_in".into()],
                }),
            },
            &admin,
        ))
        .await
        .expect("opt in");

    // The provider reports the number in its own spelling.
    let answer = notification
        .record_inbound_reply(outgoing(reply("8613800138000", "退订"), &admin))
        .await
        .expect("reply")
        .into_inner();
    assert!(answer.unsubscribed);
    let preferences = notification
        .get_customer_preferences(outgoing(
            npb::GetCustomerPreferencesRequest {
                customer_id: customer.clone(),
            },
            &admin,
        ))
        .await
        .expect("preferences")
        .into_inner()
        .preferences
        .expect("preferences");
    assert!(
        !preferences
            .marketing_opt_in
            .contains(&(MessageChannel::Sms as i32)),
        "the sender's customer is unsubscribed from SMS"
    );

    let unknown = notification
        .record_inbound_reply(outgoing(reply("13900139000", "退订"), &admin))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    let malformed = notification
        .record_inbound_reply(outgoing(reply("12345", "退订"), &admin))
        .await
        .unwrap_err();
    assert_eq!(malformed.code(), Code::InvalidArgument, "{malformed:?}");
    assert_eq!(
        maitre_kit::error::field_of(&malformed).as_deref(),
        Some("sender")
    );
    // Another chain's caller never reaches this chain's customer through its phone.
    let stranger = token("chain-other", Role::HqAdmin, "admin", &[]);
    let elsewhere = notification
        .record_inbound_reply(outgoing(reply("+8613800138000", "退订"), &stranger))
        .await
        .unwrap_err();
    assert_eq!(elsewhere.code(), Code::NotFound, "{elsewhere:?}");
}

maitre_kit::on_both_backends!(replies_are_matched_to_the_sender);
