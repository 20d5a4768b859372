//! `/v1/stream`: server-sent events from the services' `Watch`, resumable.

use std::time::Duration;

use futures::StreamExt;
use maitre_gateway::GatewayOptions;
use maitre_kit::{auth::Role, testing::Backend};
use serde_json::{Value, json};

use crate::support::{hq, setup, token};

/// One received SSE event: its id and its JSON data.
#[derive(Debug)]
struct Received {
    id: String,
    data: Value,
}

/// Reads `count` events (ignoring keep-alive comments) from an open SSE response.
async fn read_events(response: reqwest::Response, count: usize) -> Vec<Received> {
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while events.len() < count {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("events arrive in time")
            .expect("the stream stays open")
            .unwrap();
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| {
                block.lines().find_map(|l| {
                    l.strip_prefix(&format!("{name}:"))
                        .map(|v| v.trim().to_owned())
                })
            };
            if let (Some(id), Some(data)) = (field("id"), field("data")) {
                events.push(Received {
                    id,
                    data: serde_json::from_str(&data).unwrap(),
                });
            }
        }
    }
    events
}

async fn create_store(client: &reqwest::Client, url: &str, name: &str) {
    let response = client
        .post(format!("{url}/v1/stores"))
        .header("authorization", hq())
        .json(&json!({"store": {"name": name}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
}

async fn stream_delivers_and_resumes(backend: Backend) {
    let s = setup(backend, GatewayOptions::default()).await;
    let client = maitre_kit::http::client();
    create_store(&client, &s.url, "One").await;
    create_store(&client, &s.url, "Two").await;

    let caller = format!("Bearer {}", token(Role::StoreManager, "li"));
    let response = client
        .get(format!("{}/v1/stream", s.url))
        .header("authorization", &caller)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    // Two past events, then one that happens while connected.
    let live = {
        let client = client.clone();
        let url = s.url.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            create_store(&client, &url, "Three").await;
        })
    };
    let events = read_events(response, 3).await;
    live.await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["profile:1", "profile:2", "profile:3"]
    );
    assert_eq!(events[0].data["source"], "profile");
    assert_eq!(events[1].data["storeChanged"]["name"], "Two");
    assert_eq!(events[2].data["sequence"], "3");

    // Resume after the first event: the header form, as EventSource sends it.
    let resumed = client
        .get(format!("{}/v1/stream", s.url))
        .header("authorization", &caller)
        .header("last-event-id", events[0].id.as_str())
        .send()
        .await
        .unwrap();
    let again = read_events(resumed, 2).await;
    assert_eq!(again[0].id, "profile:2");
    assert_eq!(again[1].data["storeChanged"]["name"], "Three");

    // The query form.
    let from = client
        .get(format!("{}/v1/stream?from=profile:2", s.url))
        .header("authorization", &caller)
        .send()
        .await
        .unwrap();
    assert_eq!(read_events(from, 1).await[0].id, "profile:3");

    let bad = client
        .get(format!("{}/v1/stream?from=kitchen:2", s.url))
        .header("authorization", &caller)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["field"], "from");

    let anonymous = client
        .get(format!("{}/v1/stream", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), reqwest::StatusCode::UNAUTHORIZED);
}

/// `?from=now`: a screen that has just loaded its lists gets only what changes next, and a
/// `ready` event whose id resumes exactly there.
async fn stream_from_now_skips_history(backend: Backend) {
    let s = setup(backend, GatewayOptions::default()).await;
    let client = maitre_kit::http::client();
    create_store(&client, &s.url, "One").await;
    create_store(&client, &s.url, "Two").await;
    let response = client
        .get(format!("{}/v1/stream?from=now", s.url))
        .header("authorization", hq())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let opened = tokio::spawn(read_events(response, 2));
    // The ready event is the first thing sent: wait for the stream to be open, then change.
    create_store(&client, &s.url, "Three").await;
    let events = opened.await.unwrap();
    assert_eq!(events[0].id, "profile:2", "ready at the head: {events:?}");
    assert_eq!(events[0].data["cursors"]["profile"], 2);
    assert_eq!(events[1].id, "profile:3");
    assert_eq!(
        events[1].data["storeChanged"]["name"], "Three",
        "{events:?}"
    );
}

#[tokio::test]
async fn stream_from_now_skips_history_embedded() {
    stream_from_now_skips_history(Backend::Embedded).await;
}

#[tokio::test]
async fn stream_from_now_skips_history_production() {
    stream_from_now_skips_history(Backend::Production).await;
}

#[tokio::test]
async fn stream_delivers_and_resumes_embedded() {
    stream_delivers_and_resumes(Backend::Embedded).await;
}

#[tokio::test]
async fn stream_delivers_and_resumes_production() {
    stream_delivers_and_resumes(Backend::Production).await;
}
