//! Hostile or clumsy callers through the gateway: oversized and malformed headers, tokens of
//! a large scope, upstream failures. One request can only ever fail itself.

use std::{sync::Arc, time::Duration};

use maitre_gateway::GatewayOptions;
use maitre_kit::{
    auth::{MAX_TOKEN_STORES, Role},
    testing::{self, Backend},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Setup, hq, setup};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A store of chain-1 (the fake numbers it `s1`).
async fn first_store(client: &reqwest::Client, s: &Setup) {
    let created = client
        .post(format!("{}/v1/stores", s.url))
        .header("authorization", hq())
        .json(&json!({"store": {"name": "Main street"}, "requestId": "r1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
}

/// `n` store ids as the profile service makes them (UUIDs).
fn store_ids(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{i:08x}-7d3c-4b7a-9c1e-{i:012x}"))
        .collect()
}

fn store_manager(stores: &[String]) -> String {
    let stores: Vec<&str> = stores.iter().map(String::as_str).collect();
    format!(
        "Bearer {}",
        testing::token("chain-1", Role::StoreManager, "m-1", &stores)
    )
}

/// Chain V loops reads while chain E sends 70 KB `tracestate` headers at the same time: not
/// one of V's requests fails, and E's own requests are answered without 5xx.
#[tokio::test]
async fn a_huge_trace_header_fails_no_other_callers_request() {
    let s = setup(Backend::Embedded, GatewayOptions::default()).await;
    let client = maitre_kit::http::client();
    first_store(&client, &s).await;
    let url = Arc::new(s.url.clone());

    let noisy = {
        let (client, url) = (client.clone(), Arc::clone(&url));
        let token = format!(
            "Bearer {}",
            testing::token("chain-e", Role::FrontDesk, "fd-e", &["e1"])
        );
        let tracestate = format!("big={}", "x".repeat(70 * 1024));
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..40 {
                let response = client
                    .get(format!("{url}/v1/stores/e1"))
                    .header("authorization", &token)
                    .header("traceparent", TRACEPARENT)
                    .header("tracestate", &tracestate)
                    .send()
                    .await
                    .unwrap();
                statuses.push(response.status());
            }
            statuses
        })
    };
    let quiet: Vec<_> = (0..4)
        .map(|_| {
            let (client, url) = (client.clone(), Arc::clone(&url));
            tokio::spawn(async move {
                let mut failures = Vec::new();
                for _ in 0..60 {
                    let response = client
                        .get(format!("{url}/v1/stores/s1"))
                        .header("authorization", hq())
                        .send()
                        .await
                        .unwrap();
                    if response.status() != StatusCode::OK {
                        failures.push(format!(
                            "{} {}",
                            response.status(),
                            response.text().await.unwrap_or_default()
                        ));
                    }
                }
                failures
            })
        })
        .collect();
    let noisy = noisy.await.unwrap();
    let mut failures = Vec::new();
    for task in quiet {
        failures.extend(task.await.unwrap());
    }
    let first: Vec<&String> = failures.iter().take(3).collect();
    assert!(
        failures.is_empty(),
        "{} of 240 failed: {first:?}…",
        failures.len()
    );
    // The noisy caller's requests are answered as any other's: its store is not found.
    assert!(
        noisy.iter().all(|s| *s == StatusCode::NOT_FOUND),
        "{noisy:?}"
    );
}

/// Forwarded headers are bounded and checked; arbitrary ones stay at the gateway.
#[tokio::test]
async fn only_valid_named_headers_reach_the_service() {
    let s = setup(Backend::Embedded, GatewayOptions::default()).await;
    let client = maitre_kit::http::client();
    first_store(&client, &s).await;
    let get = |request_id: &str, tracestate: &str| {
        client
            .get(format!("{}/v1/stores/s1", s.url))
            .header("authorization", hq())
            .header("x-request-id", request_id)
            .header("traceparent", TRACEPARENT)
            .header("tracestate", tracestate)
            .header("accept-language", "zh-CN,zh;q=0.9")
            .header("x-custom", "anything")
            .header("cookie", "session=1")
    };
    let response = get("req-1", "rojo=00f067aa0ba902b7").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    {
        let seen = s.fake.last_headers.lock().unwrap();
        assert_eq!(seen["x-request-id"], "req-1");
        assert_eq!(seen["tracestate"], "rojo=00f067aa0ba902b7");
        assert_eq!(seen["accept-language"], "zh-CN,zh;q=0.9");
        assert!(!seen.contains_key("x-custom"), "{seen:?}");
        assert!(!seen.contains_key("cookie"), "{seen:?}");
    }

    // Over their bounds: dropped, and the request id is generated afresh.
    let long_id = "r".repeat(500);
    let response = get(&long_id, &"a=b,".repeat(40)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answered_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(answered_id, long_id);
    let seen = s.fake.last_headers.lock().unwrap();
    assert_eq!(seen["x-request-id"], answered_id);
    assert!(!seen.contains_key("tracestate"), "{seen:?}");
}

/// A header set beyond the edge's bound is refused with 431 and a JSON body naming it.
#[tokio::test]
async fn an_oversized_header_set_is_refused_at_the_edge() {
    let s = setup(Backend::Embedded, GatewayOptions::default()).await;
    let client = maitre_kit::http::client();
    let response = client
        .get(format!("{}/v1/stores/s1", s.url))
        .header("authorization", hq())
        .header("x-padding", "p".repeat(100 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "INVALID_ARGUMENT");
    assert_eq!(body["field"], "headers");
    assert!(
        body["message"].as_str().unwrap().contains("98304"),
        "{body}"
    );
}

async fn large_scope_tokens_work_up_to_the_bound(backend: Backend) {
    let s = setup(backend, GatewayOptions::default()).await;
    let client = maitre_kit::http::client();
    first_store(&client, &s).await;
    for count in [330, MAX_TOKEN_STORES] {
        let mut stores = store_ids(count - 1);
        stores.push("s1".into());
        let response = client
            .get(format!("{}/v1/stores/s1", s.url))
            .header("authorization", store_manager(&stores))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{count} stores: {body}");
    }

    let beyond = store_manager(&store_ids(MAX_TOKEN_STORES + 1));
    let response = client
        .get(format!("{}/v1/stores/s1", s.url))
        .header("authorization", beyond)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "INVALID_ARGUMENT");
    assert_eq!(body["field"], "authorization");
    assert_eq!(
        body["message"],
        "the token names 1001 stores; at most 1000 are accepted"
    );
}

#[tokio::test]
async fn large_scope_tokens_work_up_to_the_bound_embedded() {
    large_scope_tokens_work_up_to_the_bound(Backend::Embedded).await;
}

#[tokio::test]
async fn large_scope_tokens_work_up_to_the_bound_production() {
    large_scope_tokens_work_up_to_the_bound(Backend::Production).await;
}

/// A service whose connection breaks under the call is unavailable, worth a retry: 503
/// with `Retry-After` (not 500 UNKNOWN).
#[tokio::test]
async fn broken_upstream_connections_are_503_with_retry_after() {
    let s = setup(Backend::Embedded, GatewayOptions::default()).await;
    let client = maitre_kit::http::client();
    for _ in 0..3 {
        let response = tokio::time::timeout(
            Duration::from_secs(20),
            client
                .get(format!("{}/v1/tags", s.url))
                .header("authorization", hq())
                .send(),
        )
        .await
        .expect("answered")
        .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "UNAVAILABLE", "{body}");
    }
}

/// Two chains on one system: chain E sends oversized headers, malformed bodies, tokens over
/// the bound and large valid tokens at full speed for a bounded time; not one of chain V's
/// concurrent requests fails, and none of E's gets a 5xx.
#[tokio::test]
async fn a_noisy_neighbour_fails_none_of_another_chains_requests() {
    let s = setup(Backend::Embedded, GatewayOptions::default()).await;
    let client = maitre_kit::http::client();
    first_store(&client, &s).await;
    let url = Arc::new(s.url.clone());
    let until = tokio::time::Instant::now() + Duration::from_secs(2);

    let noisy: Vec<_> = (0..4)
        .map(|kind| {
            let (client, url) = (client.clone(), Arc::clone(&url));
            let e = |stores: &[String]| {
                let stores: Vec<&str> = stores.iter().map(String::as_str).collect();
                format!(
                    "Bearer {}",
                    testing::token("chain-e", Role::StoreManager, "m-e", &stores)
                )
            };
            let (valid, large, beyond) = (
                e(&store_ids(1)),
                e(&store_ids(900)),
                e(&store_ids(MAX_TOKEN_STORES + 1)),
            );
            tokio::spawn(async move {
                let mut server_errors = Vec::new();
                while tokio::time::Instant::now() < until {
                    let request = match kind {
                        0 => client
                            .get(format!("{url}/v1/stores/e1"))
                            .header("authorization", &valid)
                            .header("traceparent", TRACEPARENT)
                            .header("tracestate", format!("big={}", "x".repeat(70 * 1024))),
                        1 => client
                            .get(format!("{url}/v1/stores/e1"))
                            .header("authorization", &valid)
                            .header("x-padding", "p".repeat(120 * 1024)),
                        2 => client
                            .post(format!("{url}/v1/stores"))
                            .header("authorization", &large)
                            .header("content-type", "application/json")
                            .body("{\"store\": {\"name\": \"x\"}, \"requestId\": ["),
                        _ => client
                            .get(format!("{url}/v1/stores/e1"))
                            .header("authorization", &beyond),
                    };
                    let status = request.send().await.unwrap().status();
                    if status.is_server_error() {
                        server_errors.push(status);
                    }
                }
                server_errors
            })
        })
        .collect();
    let quiet: Vec<_> = (0..2)
        .map(|_| {
            let (client, url) = (client.clone(), Arc::clone(&url));
            tokio::spawn(async move {
                let (mut sent, mut failures) = (0, Vec::new());
                while tokio::time::Instant::now() < until {
                    sent += 1;
                    let response = client
                        .get(format!("{url}/v1/stores/s1"))
                        .header("authorization", hq())
                        .send()
                        .await
                        .unwrap();
                    if response.status() != StatusCode::OK {
                        failures.push(response.status());
                    }
                }
                (sent, failures)
            })
        })
        .collect();
    for task in noisy {
        let server_errors = task.await.unwrap();
        assert!(server_errors.is_empty(), "{server_errors:?}");
    }
    let (mut sent, mut failures) = (0, Vec::new());
    for task in quiet {
        let (n, f) = task.await.unwrap();
        sent += n;
        failures.extend(f);
    }
    assert!(sent > 0);
    assert!(
        failures.is_empty(),
        "{} of {sent}: {failures:?}",
        failures.len()
    );
}
