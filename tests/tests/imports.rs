//! The bulk import at the edge (issue 20 item 9), through the gateway: the documented batch of
//! 10,000 events fits the import route's body limit and is recorded; a body over a limit, a
//! malformed body and a batch over 10,000 are refused with the JSON error body naming what is
//! wrong, never plain text; a batch answers per event which were refused (index and field),
//! and a re-sent batch records nothing twice.

use maitre_kit::{
    auth::Role,
    on_both_backends,
    testing::{Backend, token},
};
use maitre_tests::{System, rest::Rest};
use serde_json::{Value, json};

const CHAIN: &str = "chain-imports";

fn minimal(i: usize, store: &str) -> Value {
    json!({
        "channel": "EVENT_CHANNEL_POS", "externalId": format!("imp-{i}"), "kind": "CONTACT_KIND_VISIT",
        "identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": format!("1370000{:04}", i % 2000)}],
        "storeId": store, "amount": {"amountFen": "5000", "currency": "CNY"},
        "occurredAt": format!("2025-{:02}-{:02}T04:00:00Z", 1 + (i / 28) % 12, 1 + i % 28),
    })
}

/// A raw POST, to see exactly what the gateway answers (status, content type, body).
async fn raw_post(gateway: &str, path: &str, body: Vec<u8>) -> (u16, String, Value) {
    let response = maitre_kit::http::client()
        .post(format!("{gateway}{path}"))
        .bearer_auth(token(CHAIN, Role::HqAdmin, "hq", &[]))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("gateway reachable");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({"notJson": text}));
    (status, content_type, body)
}

async fn the_documented_batch_fits_and_errors_are_json(backend: Backend) {
    let system = System::start(backend).await;
    let gateway = system.gateway.url.clone();
    let admin = Rest::new(&gateway, &token(CHAIN, Role::HqAdmin, "hq", &[]));
    let store = maitre_tests::setup::store(&admin, "静安店", "JA").await;

    // 10,000 events, as RecordEventsBatch documents: well over the general 1 MiB body limit.
    let events: Vec<Value> = (0..10_000).map(|i| minimal(i, &store)).collect();
    let body = serde_json::to_vec(&json!({ "events": events })).expect("json");
    assert!(body.len() > 1024 * 1024, "{} bytes", body.len());
    let (status, _, reply) = raw_post(&gateway, "/v1/events:batch", body).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["recorded"], "10000", "{reply}");

    // One more than documented: refused naming the field, nothing recorded.
    let events: Vec<Value> = (0..10_001).map(|i| minimal(20_000 + i, &store)).collect();
    let body = serde_json::to_vec(&json!({ "events": events })).expect("json");
    let (status, content_type, reply) = raw_post(&gateway, "/v1/events:batch", body).await;
    assert_eq!(
        (status, content_type.as_str(), reply["field"].as_str()),
        (400, "application/json", Some("events")),
        "{reply}"
    );

    // Over a route's body limit: 413 with the JSON error body naming the body. (Just over the
    // general limit, so the whole body is written before the early answer closes the stream.)
    let big = vec![b' '; 1024 * 1024 + 1024];
    let (status, content_type, reply) = raw_post(&gateway, "/v1/stores", big).await;
    assert_eq!(
        (status, content_type.as_str(), reply["field"].as_str()),
        (413, "application/json", Some("body")),
        "{reply}"
    );

    // Malformed JSON and an unknown path: JSON error bodies too.
    let (status, content_type, reply) =
        raw_post(&gateway, "/v1/events:batch", b"{\"events\": [".to_vec()).await;
    assert_eq!(
        (status, content_type.as_str()),
        (400, "application/json"),
        "{reply}"
    );
    assert!(reply["message"].is_string(), "{reply}");
    let (status, content_type, reply) = raw_post(&gateway, "/v1/nowhere", b"{}".to_vec()).await;
    assert_eq!(
        (status, content_type.as_str()),
        (404, "application/json"),
        "{reply}"
    );
}

/// A batch answers per event: a refused event is named by its index and field and writes
/// nothing, the others are recorded; re-sending the whole batch records nothing twice.
async fn a_batch_answers_per_event(backend: Backend) {
    let system = System::start(backend).await;
    let gateway = system.gateway.url.clone();
    let admin = Rest::new(&gateway, &token(CHAIN, Role::HqAdmin, "hq", &[]));
    let store = maitre_tests::setup::store(&admin, "徐汇店", "XH").await;
    let events = json!({"events": [
        minimal(1, &store),
        minimal(2, "no-such-store"),
        minimal(3, &store),
    ]});
    let (status, _, reply) = raw_post(
        &gateway,
        "/v1/events:batch",
        serde_json::to_vec(&events).expect("json"),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        (reply["recorded"].as_str(), reply["rejected"].as_str()),
        (Some("2"), Some("1")),
        "{reply}"
    );
    let results = reply["results"].as_array().expect("per-event results");
    assert_eq!(results.len(), 1, "{reply}");
    assert_eq!(results[0]["index"], 1, "{reply}");
    assert!(
        results[0]["errorField"]
            .as_str()
            .is_some_and(|f| f.contains("store")),
        "the refusal names the field: {reply}"
    );
    assert!(
        results[0]["eventId"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );
    // Nothing of the refused event was written: its guest does not exist.
    let lookup = admin
        .post(
            "/v1/customers:lookup",
            json!({"identityKey": {"kind": "IDENTITY_KIND_PHONE", "value": "13700000002"}}),
        )
        .await;
    assert_eq!(lookup.status, 404, "{:?}", lookup.body);

    let (status, _, again) = raw_post(
        &gateway,
        "/v1/events:batch",
        serde_json::to_vec(&events).expect("json"),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (
            again["recorded"].as_str().unwrap_or("0"),
            again["duplicates"].as_str(),
            again["rejected"].as_str()
        ),
        ("0", Some("2"), Some("1")),
        "a re-sent batch records nothing twice: {again}"
    );
}

on_both_backends!(
    the_documented_batch_fits_and_errors_are_json,
    a_batch_answers_per_event
);
