//! One service down does not take the API down: the gateway stays ready and says which
//! upstream is degraded, the other services' routes and the live stream keep working, and
//! the down service's routes answer a retryable 503.

use std::time::Duration;

use futures::StreamExt;
use maitre_kit::{
    auth::Role,
    testing::{Backend, token},
};
use maitre_tests::{System, rest::Rest};
use serde_json::{Value, json};

async fn a_service_down_degrades_only_its_routes(backend: Backend) {
    let system = System::start(backend).await;
    let gateway = &system.gateway;
    let admin = Rest::new(&gateway.url, &token("chain-down", Role::HqAdmin, "hq", &[]));
    let http = maitre_kit::http::client();

    // The live stream is open before the outage.
    let live = http
        .get(format!("{}/v1/stream", gateway.url))
        .bearer_auth(token("chain-down", Role::HqAdmin, "hq", &[]))
        .send()
        .await
        .expect("stream");
    assert_eq!(live.status(), 200);
    let mut live = live.bytes_stream();

    drop(system.notification);
    // Wait for the proof that it is down: the readiness report says so.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let report = loop {
        let ready = http
            .get(format!("{}/readyz", gateway.url))
            .send()
            .await
            .expect("readyz");
        assert_eq!(ready.status(), 200, "the gateway stays ready");
        let report: Value = ready.json().await.expect("json");
        if report["upstreams"]["notification"] != "SERVING" {
            break report;
        }
        assert!(tokio::time::Instant::now() < deadline, "{report}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(report["degraded"], json!(["notification"]), "{report}");
    assert_eq!(report["upstreams"]["profile"], "SERVING", "{report}");

    // The other services' routes work.
    let store = maitre_tests::setup::store(&admin, "陆家嘴店", "LJZ").await;
    assert_eq!(admin.get("/v1/tags").await.status, 200);
    assert_eq!(admin.get("/v1/managers").await.status, 200);

    // The down service's routes answer a retryable unavailability, as JSON, with when to retry.
    let down = http
        .get(format!("{}/v1/templates", gateway.url))
        .bearer_auth(token("chain-down", Role::HqAdmin, "hq", &[]))
        .send()
        .await
        .expect("gateway");
    assert_eq!(down.status(), 503);
    assert!(down.headers().contains_key("retry-after"), "{down:?}");
    let body: Value = down.json().await.expect("a JSON error");
    assert_eq!(body["code"], "UNAVAILABLE", "{body}");

    // The live stream still delivers the other services' events: the new store arrives.
    let mut seen = String::new();
    let arrived = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = live.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            if seen.contains(&store) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        arrived,
        Ok(true),
        "the store's event on the live stream: {seen}"
    );
}

maitre_kit::on_both_backends!(a_service_down_degrades_only_its_routes);
