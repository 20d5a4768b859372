//! The bulk import at the edge (issue 20 item 9), through the gateway: the documented batch of
//! 10,000 events fits the import route's body limit and is recorded; a body over a limit, a
//! malformed body and a batch over 10,000 are refused with the JSON error body naming what is
//! wrong, never plain text.

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
    let store = admin
        .post(
            "/v1/stores",
            json!({"store": {"name": "静安店", "timeZone": "Asia/Shanghai", "code": "JA"}}),
        )
        .await
        .ok()["store"]["storeId"]
        .as_str()
        .expect("store id")
        .to_owned();

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

on_both_backends!(the_documented_batch_fits_and_errors_are_json);
