//! The WeChat providers against a local fake of `api.weixin.qq.com` that checks each request as
//! WeChat documents it and answers the documented bodies:
//! - stable token: <https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-access-token/getStableAccessToken.html>
//!   (`POST /cgi-bin/stable_token`, JSON `grant_type`, `appid`, `secret`, `force_refresh`);
//! - Official Account template message: <https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html>
//!   (`POST /cgi-bin/message/template/send?access_token=…`, `touser`, `template_id`, `url`,
//!   `client_msg_id`, `data.{key}.value`; answer `{"errcode":0,"errmsg":"ok","msgid":200228332}`);
//! - Mini Program subscribe message: <https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html>
//!   (`POST /cgi-bin/message/subscribe/send?access_token=…`, `touser`, `template_id`, `page`,
//!   `miniprogram_state`, `lang`, `data.{key}.value`).
//!
//! One token for two replicas sharing the store (both backends), a forced refresh and one retry
//! after the documented "expired" errcode 42001, 43101 (the guest refused) permanent and named,
//! 45009 (daily quota) a delay.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::{
    Json, Router,
    extract::{Query, State},
    routing::post,
};
use maitre_kit::on_both_backends;
use maitre_kit::testing::{self, Backend};
use maitre_notification::domain::channel::Channel;
use maitre_notification::providers::wechat::{GUEST_REFUSED, Wechat, WechatApp, WechatProduct};
use maitre_notification::providers::{OutboundMessage, Provider, ProviderError};
use serde_json::{Value, json};

#[derive(Default)]
struct Fake {
    /// Each stable_token request's `force_refresh`.
    token_requests: Mutex<Vec<bool>>,
    /// Tokens the fake now answers 42001 for.
    expired: Mutex<Vec<String>>,
    /// The errcode every send answers while set.
    answer: Mutex<Option<(i64, &'static str)>>,
    /// Each accepted send: `(path, body)`.
    sends: Mutex<Vec<(String, Value)>>,
}

async fn stable_token(State(fake): State<Arc<Fake>>, Json(body): Json<Value>) -> Json<Value> {
    if body["grant_type"] != "client_credential"
        || body["appid"] != "wx-harbour"
        || body["secret"] != "app-secret"
        || !body["force_refresh"].is_boolean()
    {
        // The documented answer to a wrong secret.
        return Json(json!({"errcode": 40125, "errmsg": "invalid appsecret"}));
    }
    let mut requests = fake.token_requests.lock().expect("lock");
    requests.push(body["force_refresh"].as_bool().unwrap_or_default());
    Json(json!({"access_token": format!("tok-{}", requests.len()), "expires_in": 7200}))
}

async fn send(
    fake: Arc<Fake>,
    path: &str,
    query: HashMap<String, String>,
    body: Value,
) -> Json<Value> {
    let token = query.get("access_token").cloned().unwrap_or_default();
    if fake.expired.lock().expect("lock").contains(&token) {
        return Json(json!({"errcode": 42001, "errmsg": "access_token expired"}));
    }
    if !token.starts_with("tok-") {
        return Json(json!({"errcode": 40001, "errmsg": "invalid credential"}));
    }
    if let Some((errcode, errmsg)) = *fake.answer.lock().expect("lock") {
        return Json(json!({"errcode": errcode, "errmsg": errmsg}));
    }
    let mut sends = fake.sends.lock().expect("lock");
    sends.push((path.to_owned(), body));
    Json(json!({"errcode": 0, "errmsg": "ok", "msgid": 200228332 + sends.len() as u64}))
}

async fn template_send(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    send(fake, "template", query, body).await
}

async fn subscribe_send(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    send(fake, "subscribe", query, body).await
}

async fn start_fake() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::default());
    let app = Router::new()
        .route("/cgi-bin/stable_token", post(stable_token))
        .route("/cgi-bin/message/template/send", post(template_send))
        .route("/cgi-bin/message/subscribe/send", post(subscribe_send))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, url)
}

fn greeting(message_id: &str) -> OutboundMessage {
    OutboundMessage {
        chain_id: "chain-1".into(),
        message_id: message_id.into(),
        customer_id: "g1".into(),
        staff_id: "wang".into(),
        channel: Channel::Wechat,
        subject: None,
        body: "李女士，生日快乐".into(),
        campaign_id: String::new(),
        automation_id: "birthday_dessert_greeting".into(),
        // The guest used two apps and is Wang's WeCom contact: the provider picks its app's.
        recipient: "wx-other:o-elsewhere,wx-harbour:o-guest,wecom:wm-guest".into(),
        parameters: vec![
            ("thing1".into(), "李女士".into()),
            ("character_string2".into(), "DESSERT-2026".into()),
        ],
        provider_template_id: "TPL-BIRTHDAY".into(),
        sign_name: String::new(),
    }
}

fn app(link: &str) -> WechatApp {
    WechatApp {
        appid: "wx-harbour".into(),
        app_secret: "app-secret".into(),
        link: link.into(),
        ..WechatApp::default()
    }
}

async fn official_account_template_messages(backend: Backend) {
    let (fake, url) = start_fake().await;
    let store = testing::coordination(backend).await;
    let replicas: Vec<Wechat> = (0..2)
        .map(|_| {
            Wechat::new(
                &url,
                WechatProduct::OfficialAccount,
                app("https://harbour.example/coupon"),
                store.clone(),
                Duration::from_secs(5),
            )
            .expect("wechat")
        })
        .collect();
    let sends: Vec<_> = (0..6)
        .map(|i| {
            let replica = replicas[i % 2].clone();
            tokio::spawn(async move { replica.send(&greeting(&format!("msg-{i}"))).await })
        })
        .collect();
    for send in sends {
        let id = send.await.expect("task").expect("sent");
        assert!(id.parse::<u64>().is_ok(), "WeChat's msgid: {id}");
    }
    assert_eq!(
        *fake.token_requests.lock().expect("lock"),
        vec![false],
        "one token for both replicas"
    );
    let sends = fake.sends.lock().expect("lock").clone();
    assert_eq!(sends.len(), 6);
    let (path, body) = sends
        .iter()
        .find(|(_, b)| b["client_msg_id"] == "msg-0")
        .expect("msg-0 sent");
    assert_eq!(path, "template");
    assert_eq!(
        body,
        &json!({
            "touser": "o-guest",
            "template_id": "TPL-BIRTHDAY",
            "url": "https://harbour.example/coupon",
            "client_msg_id": "msg-0",
            "data": {
                "thing1": {"value": "李女士"},
                "character_string2": {"value": "DESSERT-2026"},
            },
        })
    );

    // WeChat expires the token: forgotten, refreshed with force_refresh, the send tried once more.
    fake.expired.lock().expect("lock").push("tok-1".into());
    replicas[0]
        .send(&greeting("msg-renewed"))
        .await
        .expect("sent after renewal");
    replicas[1]
        .send(&greeting("msg-after"))
        .await
        .expect("sent with the new token");
    assert_eq!(
        *fake.token_requests.lock().expect("lock"),
        vec![false, true]
    );

    // 43101: the guest refused the template: permanent, and says so.
    *fake.answer.lock().expect("lock") = Some((43101, "user refuse to accept the msg"));
    match replicas[0].send(&greeting("msg-refused")).await {
        Err(ProviderError::Permanent { error }) => {
            assert!(error.starts_with(GUEST_REFUSED), "{error}")
        }
        other => panic!("43101 is permanent: {other:?}"),
    }
    // 45009: the daily quota: a delay, never a drop.
    *fake.answer.lock().expect("lock") = Some((45009, "reach max api daily quota limit"));
    assert!(matches!(
        replicas[0].send(&greeting("msg-quota")).await,
        Err(ProviderError::Throttled {
            retry_after_ms: 3_600_000,
            ..
        })
    ));
    // Other documented errors (40037: bad template id) are permanent.
    *fake.answer.lock().expect("lock") = Some((40037, "invalid template_id"));
    assert!(matches!(
        replicas[0].send(&greeting("msg-bad")).await,
        Err(ProviderError::Permanent { .. })
    ));
}

on_both_backends!(official_account_template_messages);

async fn mini_program_subscribe_messages(backend: Backend) {
    let (fake, url) = start_fake().await;
    let store = testing::coordination(backend).await;
    let mini = Wechat::new(
        &url,
        WechatProduct::MiniProgram,
        app("pages/coupon/index?code=DESSERT-2026"),
        store,
        Duration::from_secs(5),
    )
    .expect("wechat");
    mini.send(&greeting("msg-mp")).await.expect("sent");
    let sends = fake.sends.lock().expect("lock").clone();
    assert_eq!(
        sends,
        vec![(
            "subscribe".to_owned(),
            json!({
                "touser": "o-guest",
                "template_id": "TPL-BIRTHDAY",
                "page": "pages/coupon/index?code=DESSERT-2026",
                "miniprogram_state": "formal",
                "lang": "zh_CN",
                "data": {
                    "thing1": {"value": "李女士"},
                    "character_string2": {"value": "DESSERT-2026"},
                },
            })
        )]
    );
    // A guest without an openid of this app is never sent to.
    let mut stranger = greeting("msg-stranger");
    stranger.recipient = "wx-other:o-elsewhere".into();
    assert!(matches!(
        mini.send(&stranger).await,
        Err(ProviderError::Permanent { .. })
    ));
    assert_eq!(fake.sends.lock().expect("lock").len(), 1);
}

on_both_backends!(mini_program_subscribe_messages);
