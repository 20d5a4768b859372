//! The WeCom provider against a local fake of `qyapi.weixin.qq.com` that checks requests as
//! <https://developer.work.weixin.qq.com/document/path/91039> (gettoken) and
//! <https://developer.work.weixin.qq.com/document/path/90236> (message/send) describe them and
//! answers the documented bodies: one token fetched for two replicas sharing the store (both
//! backends: in-process and Redis), a new one after the documented "expired" errcode 42001, and
//! the frequency limit 45009 as a delay.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::{
    Json, Router,
    extract::{Query, State},
    routing::{get, post},
};
use maitre_kit::on_both_backends;
use maitre_kit::testing::{self, Backend};
use maitre_notification::domain::channel::Channel;
use maitre_notification::providers::wecom::{Wecom, WecomApp};
use maitre_notification::providers::{OutboundMessage, Provider, ProviderError};
use serde_json::{Value, json};

#[derive(Default)]
struct Fake {
    tokens_issued: Mutex<usize>,
    /// Tokens the fake now answers 42001 for.
    expired: Mutex<Vec<String>>,
    throttle: Mutex<bool>,
    /// Each send's problems (empty when as documented).
    sends: Mutex<Vec<Vec<String>>>,
}

async fn gettoken(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Value> {
    if query.get("corpid").map(String::as_str) != Some("ww-corp")
        || query.get("corpsecret").map(String::as_str) != Some("corp-secret")
    {
        return Json(json!({"errcode": 40001, "errmsg": "invalid credential"}));
    }
    let mut issued = fake.tokens_issued.lock().expect("lock");
    *issued += 1;
    Json(
        json!({"errcode": 0, "errmsg": "ok", "access_token": format!("tok-{issued}"), "expires_in": 7200}),
    )
}

async fn send(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let token = query.get("access_token").cloned().unwrap_or_default();
    if fake.expired.lock().expect("lock").contains(&token) {
        return Json(json!({"errcode": 42001, "errmsg": "access_token expired"}));
    }
    if *fake.throttle.lock().expect("lock") {
        return Json(json!({"errcode": 45009, "errmsg": "reach max api daily quota limit"}));
    }
    let mut problems = Vec::new();
    if !token.starts_with("tok-") {
        problems.push(format!("access_token {token:?}"));
    }
    for (field, want) in [
        ("touser", json!("wang")),
        ("msgtype", json!("text")),
        ("agentid", json!(1000002)),
        ("enable_duplicate_check", json!(1)),
    ] {
        if body[field] != want {
            problems.push(format!("{field}: {}", body[field]));
        }
    }
    if !body["text"]["content"]
        .as_str()
        .is_some_and(|c| c.contains("王女士3天后生日"))
    {
        problems.push(format!("text: {}", body["text"]));
    }
    let mut sends = fake.sends.lock().expect("lock");
    sends.push(problems);
    Json(
        json!({"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": format!("msg-{}", sends.len())}),
    )
}

async fn start_fake() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::default());
    let app = Router::new()
        .route("/cgi-bin/gettoken", get(gettoken))
        .route("/cgi-bin/message/send", post(send))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, url)
}

fn reminder() -> OutboundMessage {
    OutboundMessage {
        chain_id: "chain-1".into(),
        message_id: "msg-1".into(),
        customer_id: "g1".into(),
        staff_id: "wang".into(),
        channel: Channel::StaffInbox,
        subject: Some("王女士3天后生日".into()),
        body: "最爱杨枝甘露".into(),
        campaign_id: String::new(),
        automation_id: "birthday_owner_reminder".into(),
        recipient: String::new(),
        parameters: Vec::new(),
        provider_template_id: String::new(),
        sign_name: String::new(),
    }
}

async fn one_token_for_every_replica_renewed_when_expired(backend: Backend) {
    let (fake, url) = start_fake().await;
    let store = testing::coordination(backend).await;
    let app = WecomApp {
        corp_id: "ww-corp".into(),
        corp_secret: "corp-secret".into(),
        agent_id: 1000002,
    };
    // Two replicas sharing the store.
    let replicas: Vec<Wecom> = (0..2)
        .map(|_| {
            Wecom::new(&url, app.clone(), store.clone(), Duration::from_secs(5)).expect("wecom")
        })
        .collect();
    let sends: Vec<_> = (0..10)
        .map(|i| {
            let replica = replicas[i % 2].clone();
            tokio::spawn(async move { replica.send(&reminder()).await })
        })
        .collect();
    for send in sends {
        send.await.expect("task").expect("sent");
    }
    assert_eq!(
        *fake.tokens_issued.lock().expect("lock"),
        1,
        "one token fetched"
    );
    for problems in fake.sends.lock().expect("lock").iter() {
        assert!(problems.is_empty(), "{problems:?}");
    }

    // WeCom expires the token: the next send fetches a new one and goes through; later sends of
    // either replica use it.
    fake.expired.lock().expect("lock").push("tok-1".into());
    replicas[0]
        .send(&reminder())
        .await
        .expect("sent after renewal");
    replicas[1]
        .send(&reminder())
        .await
        .expect("sent with the new token");
    assert_eq!(*fake.tokens_issued.lock().expect("lock"), 2);

    // The frequency limit delays.
    *fake.throttle.lock().expect("lock") = true;
    assert!(matches!(
        replicas[0].send(&reminder()).await,
        Err(ProviderError::Throttled {
            retry_after_ms: _,
            ..
        })
    ));
}

on_both_backends!(one_token_for_every_replica_renewed_when_expired);
