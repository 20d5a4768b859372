//! The WeCom external-contact provider against a local fake of `qyapi.weixin.qq.com` that checks
//! requests as WeCom documents them and answers the documented bodies:
//! - gettoken with the customer-contact secret: <https://developer.work.weixin.qq.com/document/path/91039>;
//! - add_msg_template: <https://developer.work.weixin.qq.com/document/path/92135>
//!   (`chat_type: single`, `external_userid: [..]`, `sender`, `text.content`; answer
//!   `{"errcode":0,"errmsg":"ok","fail_list":[],"msgid":"msgGCAAAXtWyujaWJHDDGi0mAAAA"}`).
//!
//! The guest's greeting becomes a task for her manager; a guest in `fail_list` (not the
//! manager's contact) is a permanent failure; a guest with no external userid is never sent.

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
use maitre_notification::providers::wecom_external::{WecomContactApp, WecomExternal};
use maitre_notification::providers::{OutboundMessage, Provider, ProviderError};
use serde_json::{Value, json};

#[derive(Default)]
struct Fake {
    tokens_issued: Mutex<usize>,
    expired: Mutex<Vec<String>>,
    /// External userids the fake puts in `fail_list`.
    strangers: Mutex<Vec<String>>,
    tasks: Mutex<Vec<Value>>,
}

async fn gettoken(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Value> {
    if query.get("corpid").map(String::as_str) != Some("ww-corp")
        || query.get("corpsecret").map(String::as_str) != Some("contact-secret")
    {
        return Json(json!({"errcode": 40001, "errmsg": "invalid credential"}));
    }
    let mut issued = fake.tokens_issued.lock().expect("lock");
    *issued += 1;
    Json(
        json!({"errcode": 0, "errmsg": "ok", "access_token": format!("ctok-{issued}"), "expires_in": 7200}),
    )
}

async fn add_msg_template(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let token = query.get("access_token").cloned().unwrap_or_default();
    if fake.expired.lock().expect("lock").contains(&token) {
        return Json(json!({"errcode": 42001, "errmsg": "access_token expired"}));
    }
    if !token.starts_with("ctok-") {
        return Json(json!({"errcode": 40014, "errmsg": "invalid access_token"}));
    }
    let strangers = fake.strangers.lock().expect("lock").clone();
    let fail_list: Vec<Value> = body["external_userid"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|id| strangers.iter().any(|s| *id == s.as_str()))
        .cloned()
        .collect();
    let mut tasks = fake.tasks.lock().expect("lock");
    tasks.push(body);
    Json(json!({
        "errcode": 0, "errmsg": "ok", "fail_list": fail_list,
        "msgid": format!("msgGCAAAXtWyujaWJHDDGi0m{}", tasks.len()),
    }))
}

async fn start_fake() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::default());
    let app = Router::new()
        .route("/cgi-bin/gettoken", get(gettoken))
        .route(
            "/cgi-bin/externalcontact/add_msg_template",
            post(add_msg_template),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, url)
}

fn greeting(recipient: &str) -> OutboundMessage {
    OutboundMessage {
        chain_id: "chain-1".into(),
        message_id: "msg-1".into(),
        customer_id: "g1".into(),
        staff_id: "wang".into(),
        channel: Channel::Wechat,
        subject: None,
        body: "李女士，生日快乐！杨枝甘露已为您备好。".into(),
        campaign_id: String::new(),
        automation_id: "birthday_dessert_greeting".into(),
        recipient: recipient.into(),
        parameters: Vec::new(),
        provider_template_id: String::new(),
        sign_name: String::new(),
    }
}

async fn the_greeting_becomes_a_task_for_the_guests_manager(backend: Backend) {
    let (fake, url) = start_fake().await;
    let store = testing::coordination(backend).await;
    let provider = WecomExternal::new(
        &url,
        WecomContactApp {
            corp_id: "ww-corp".into(),
            contact_secret: "contact-secret".into(),
        },
        store,
        Duration::from_secs(5),
    )
    .expect("provider");
    let id = provider
        .send(&greeting("wx-harbour:o-guest,wecom:wm-guest"))
        .await
        .expect("task created");
    assert_eq!(id, "msgGCAAAXtWyujaWJHDDGi0m1");
    assert_eq!(
        fake.tasks.lock().expect("lock").clone(),
        vec![json!({
            "chat_type": "single",
            "external_userid": ["wm-guest"],
            "sender": "wang",
            "text": {"content": "李女士，生日快乐！杨枝甘露已为您备好。"},
        })]
    );

    // The token expires: a new one, one retry.
    fake.expired.lock().expect("lock").push("ctok-1".into());
    provider
        .send(&greeting("wecom:wm-guest"))
        .await
        .expect("sent after renewal");
    assert_eq!(*fake.tokens_issued.lock().expect("lock"), 2);

    // Not Wang's contact (fail_list): permanent.
    fake.strangers
        .lock()
        .expect("lock")
        .push("wm-stranger".into());
    assert!(matches!(
        provider.send(&greeting("wecom:wm-stranger")).await,
        Err(ProviderError::Permanent { .. })
    ));
    // No external userid: never sent.
    let before = fake.tasks.lock().expect("lock").len();
    assert!(matches!(
        provider.send(&greeting("wx-harbour:o-guest")).await,
        Err(ProviderError::Permanent { .. })
    ));
    assert_eq!(fake.tasks.lock().expect("lock").len(), before);
}

on_both_backends!(the_greeting_becomes_a_task_for_the_guests_manager);
