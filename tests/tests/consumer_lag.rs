//! Consumer lag, as an operator or an HQ admin sees it through the gateway
//! (`GET /v1/consumers`): every service's consumers of the others' logs, their cursors, the
//! upstreams' heads and what is pending — scoped to the caller's chain, refused to staff
//! below HQ, and reaching "caught up" once the services have applied a contact.

use std::time::Duration;

use maitre_kit::{
    auth::Role,
    testing::{Backend, token},
};
use maitre_tests::{System, rest::Rest};
use serde_json::{Value, json};

/// The consumer named `name` in a `/v1/consumers` answer.
fn consumer<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["consumers"]
        .as_array()
        .expect("consumers")
        .iter()
        .find(|c| c["consumer"] == name)
        .unwrap_or_else(|| panic!("no consumer {name} in {answer}"))
}

/// A proto3 JSON uint64 (a string; absent when 0).
fn number(value: &Value) -> u64 {
    value.as_str().map_or(0, |s| s.parse().expect("a number"))
}

async fn lag_is_visible_and_scoped_to_the_chain(backend: Backend) {
    let system = System::start(backend).await;
    let gateway = &system.gateway.url;
    let admin = Rest::new(gateway, &token("chain-lag", Role::HqAdmin, "hq", &[]));
    let store = maitre_tests::setup::store(&admin, "外滩店", "WT").await;
    admin
        .post(
            "/v1/events",
            json!({"event": {
                "channel": "EVENT_CHANNEL_POS", "externalId": "lag-1", "kind": "CONTACT_KIND_VISIT",
                "identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": "13800138011"}],
                "storeId": store, "amount": {"amountFen": "18800", "currency": "CNY"},
                "occurredAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "partySize": 2,
            }}),
        )
        .await
        .ok();

    // Wait for the proof: every consumer of every service has applied all of this chain's
    // events (caught up), with tagging's cursor on profile past them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let answer = loop {
        let answer = admin.get("/v1/consumers").await.ok();
        if answer["caughtUp"] == true {
            break answer;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not caught up in 30 s: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(answer["unavailable"], json!([]), "{answer}");
    let tagging = consumer(&answer, "tagging<-profile");
    assert_eq!(tagging["service"], "tagging");
    assert_eq!(tagging["upstream"], "profile");
    let head = number(&tagging["upstreamHeadSequence"]);
    assert!(
        head >= 2,
        "the store and the visit are in profile's log: {tagging}"
    );
    assert!(number(&tagging["cursor"]) >= head, "{tagging}");
    assert_eq!(number(&tagging["pendingEvents"]), 0, "{tagging}");
    // Notification follows all three others.
    for name in [
        "notification<-profile",
        "notification<-tagging",
        "notification<-assignment",
    ] {
        assert_eq!(consumer(&answer, name)["service"], "notification", "{name}");
    }

    // Another chain's HQ sees its own (empty) share of the same logs.
    let other = Rest::new(gateway, &token("chain-other", Role::HqAdmin, "hq", &[]));
    let theirs = other.get("/v1/consumers").await.ok();
    let tagging = consumer(&theirs, "tagging<-profile");
    assert_eq!(number(&tagging["upstreamHeadSequence"]), 0, "{theirs}");
    assert_eq!(theirs["caughtUp"], true, "{theirs}");

    // Staff below HQ are refused, with a JSON error.
    let desk = Rest::new(
        gateway,
        &token("chain-lag", Role::FrontDesk, "desk", &[&store]),
    );
    let refused = desk.get("/v1/consumers").await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(
        refused.body["code"], "PERMISSION_DENIED",
        "{:?}",
        refused.body
    );
}

maitre_kit::on_both_backends!(lag_is_visible_and_scoped_to_the_chain);
