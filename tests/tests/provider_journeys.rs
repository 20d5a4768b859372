//! Issue 24 end to end, through the gateway as an HQ console drives it: the chain configures its
//! own Tencent Cloud SMS and WeCom accounts (`PUT /v1/providers/{channel}`, secrets sealed and
//! never shown again), binds the birthday greeting to its approved SMS template, and then
//! - the birthday greeting reaches a local fake of `sms.tencentcloudapi.com` with the guest's
//!   phone (from profile's stream), the approved template id, sign name and parameters — the
//!   request checked as Tencent documents it: SendSms 2021-01-11
//!   <https://cloud.tencent.com/document/api/382/55981> and the TC3-HMAC-SHA256 signature
//!   <https://cloud.tencent.com/document/api/213/30654> (recomputed from what arrived; the
//!   signing code is checked against that page's worked example in `tencent_sms.rs`);
//! - the manager's birthday reminder reaches a local fake of `qyapi.weixin.qq.com`: gettoken
//!   <https://developer.work.weixin.qq.com/document/path/91039> with the chain's corp secret,
//!   then message/send <https://developer.work.weixin.qq.com/document/path/90236> to the
//!   manager's userid.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Query, State},
    http::HeaderMap,
    routing::{get, post},
};
use chrono::Datelike;
use maitre_kit::{
    auth::Role,
    on_both_backends,
    testing::{Backend, token},
};
use maitre_notification::providers::tencent_sms::{CONTENT_TYPE, tc3_authorization};
use maitre_tests::{System, eventually, rest::Rest, setup};
use serde_json::{Value, json};

const CHAIN: &str = "chain-providers";
const STORE_NAME: &str = "海港酒家静安店";
/// The provider-secrets key of this test's notification (base64 of 32 bytes).
const SECRET_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const TENCENT_SECRET_ID: &str = "AKIDchainProviders";
const TENCENT_SECRET_KEY: &str = "tencent-secret-key-of-the-chain";
const CORP_SECRET: &str = "wecom-corp-secret-of-the-chain";

/// What the fakes received: each request's problems (empty when as documented) and body.
#[derive(Default)]
struct Fakes {
    sms: Mutex<Vec<(Vec<String>, Value)>>,
    wecom: Mutex<Vec<(Vec<String>, Value)>>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Tencent's SendSms: the documented headers and the signature over what arrived; answers
/// the documented success body ("示例1 发送短信").
async fn tencent_send_sms(
    State(fakes): State<Arc<Fakes>>,
    headers: HeaderMap,
    body: Bytes,
) -> Json<Value> {
    let mut problems = Vec::new();
    for (name, want) in [
        ("content-type", CONTENT_TYPE),
        ("x-tc-action", "SendSms"),
        ("x-tc-version", "2021-01-11"),
        ("x-tc-region", "ap-guangzhou"),
    ] {
        if header(&headers, name) != want {
            problems.push(format!("{name}: {:?}", header(&headers, name)));
        }
    }
    let timestamp: i64 = header(&headers, "x-tc-timestamp").parse().unwrap_or(0);
    if (chrono::Utc::now().timestamp() - timestamp).abs() > 300 {
        problems.push(format!("x-tc-timestamp: {timestamp}"));
    }
    let host = header(&headers, "host").to_owned();
    let expected = tc3_authorization(
        TENCENT_SECRET_ID,
        TENCENT_SECRET_KEY,
        "sms",
        &host,
        &body,
        timestamp,
    );
    if header(&headers, "authorization") != expected {
        problems.push(format!(
            "authorization: {:?}",
            header(&headers, "authorization")
        ));
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let phone = body["PhoneNumberSet"][0].clone();
    let context = body["SessionContext"].clone();
    fakes.sms.lock().expect("lock").push((problems, body));
    Json(
        json!({"Response": {"SendStatusSet": [{"SerialNo": "5000:1045710669157053657849499619",
        "PhoneNumber": phone, "Fee": 1, "SessionContext": context, "Code": "Ok",
        "Message": "send success", "IsoCode": "CN"}],
        "RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279"}}),
    )
}

async fn wecom_gettoken(Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    if query.get("corpid").map(String::as_str) != Some("ww-chain")
        || query.get("corpsecret").map(String::as_str) != Some(CORP_SECRET)
    {
        return Json(json!({"errcode": 40001, "errmsg": "invalid credential"}));
    }
    Json(json!({"errcode": 0, "errmsg": "ok", "access_token": "tok-chain", "expires_in": 7200}))
}

async fn wecom_send(
    State(fakes): State<Arc<Fakes>>,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let mut problems = Vec::new();
    if query.get("access_token").map(String::as_str) != Some("tok-chain") {
        problems.push(format!("access_token {:?}", query.get("access_token")));
    }
    for (field, want) in [("msgtype", json!("text")), ("agentid", json!(1000002))] {
        if body[field] != want {
            problems.push(format!("{field}: {}", body[field]));
        }
    }
    fakes.wecom.lock().expect("lock").push((problems, body));
    Json(json!({"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": "wecom-msg-1"}))
}

/// Both fakes on one local server: `(fakes, tencent endpoint, wecom api)`.
async fn start_fakes() -> (Arc<Fakes>, String, String) {
    let fakes = Arc::new(Fakes::default());
    let app = Router::new()
        .route("/tencent/", post(tencent_send_sms))
        .route("/wecom/cgi-bin/gettoken", get(wecom_gettoken))
        .route("/wecom/cgi-bin/message/send", post(wecom_send))
        .with_state(fakes.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fakes, format!("{base}/tencent/"), format!("{base}/wecom"))
}

fn store_today() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

fn birthday(date: chrono::NaiveDate) -> Value {
    json!({"year": 1990, "month": date.month(), "day": date.day()})
}

struct Chain {
    _system: System,
    fakes: Arc<Fakes>,
    admin: Rest,
    gateway: String,
    store: String,
}

impl Chain {
    async fn start(backend: Backend) -> Chain {
        let (fakes, tencent, wecom) = start_fakes().await;
        let system = System::start_with_notification_settings(
            backend,
            &[
                ("MAITRE_SECRET_KEY", SECRET_KEY.to_owned()),
                ("MAITRE_TENCENT_SMS_ENDPOINT", tencent),
                ("MAITRE_WECOM_API", wecom),
            ],
        )
        .await;
        let gateway = system.gateway.url.clone();
        let admin = Rest::new(&gateway, &token(CHAIN, Role::HqAdmin, "hq", &[]));
        let store = setup::store(&admin, STORE_NAME, "JA").await;
        setup::manager(&admin, "wang", "王经理", &store).await;
        Chain {
            _system: system,
            fakes,
            admin,
            gateway,
            store,
        }
    }

    /// A guest created at the front desk through Wang (her owner), opted in to marketing SMS.
    async fn new_guest(&self, phone: &str, name: &str, birthday: Value) -> String {
        let id = setup::guest_born(&self.admin, &self.store, phone, name, "female", birthday).await;
        // A booking through Wang makes him her owner (the reminder goes to him).
        self.admin
            .post(
                "/v1/events",
                json!({"event": {
                    "channel": "EVENT_CHANNEL_PHONE", "externalId": format!("booking-{phone}"),
                    "kind": "CONTACT_KIND_BOOKING",
                    "identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": phone}],
                    "storeId": self.store, "managerId": "wang",
                    "occurredAt": chrono::Utc::now()
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    "partySize": 2,
                }}),
            )
            .await
            .ok();
        id
    }

    async fn likes_dessert(&self, guests: &[&str]) {
        let tag = setup::active_manual_tag(&self.admin, "likes_dessert").await;
        for guest in guests {
            setup::add_member(&self.admin, &tag, guest).await;
        }
    }

    async fn install(&self, preset: &str, enable: bool) -> maitre_tests::rest::Reply {
        self.admin
            .post(
                &format!("/v1/automation-presets/{preset}:install"),
                json!({"enable": enable, "coupon": "DESSERT-2026"}),
            )
            .await
    }
}

/// Only HQ admins set a chain's provider accounts; the secret is never answered; a setting
/// changed without the secret keeps it; a wrong kind or missing setting names the field.
async fn provider_accounts_keep_their_secrets(backend: Backend) {
    let chain = Chain::start(backend).await;
    let tencent = json!({"kind": "tencent_sms",
        "settings": {"secret_id": TENCENT_SECRET_ID, "region": "ap-guangzhou",
                     "sdk_app_id": "1400006666", "sign_name": "海港酒家"},
        "secrets": {"secret_key": TENCENT_SECRET_KEY}});
    let manager = Rest::new(
        &chain.gateway,
        &token(CHAIN, Role::StoreManager, "m1", &[&chain.store]),
    );
    assert_eq!(
        manager
            .put("/v1/providers/sms", tencent.clone())
            .await
            .status,
        403
    );
    let set = chain.admin.put("/v1/providers/sms", tencent).await.ok();
    assert!(!set.to_string().contains(TENCENT_SECRET_KEY), "{set}");
    assert_eq!(set["account"]["secretsSet"], json!(["secret_key"]), "{set}");
    // The region changes; the secret is not sent again and stays set.
    let moved = chain
        .admin
        .put(
            "/v1/providers/sms",
            json!({"kind": "tencent_sms",
                "settings": {"secret_id": TENCENT_SECRET_ID, "region": "ap-beijing",
                             "sdk_app_id": "1400006666"}}),
        )
        .await
        .ok();
    assert_eq!(
        moved["account"]["secretsSet"],
        json!(["secret_key"]),
        "{moved}"
    );
    let shown = chain.admin.get("/v1/providers/sms").await.ok();
    assert_eq!(
        shown["account"]["settings"]["region"], "ap-beijing",
        "{shown}"
    );
    assert!(!shown.to_string().contains(TENCENT_SECRET_KEY), "{shown}");
    // Bad input changes nothing and names the field.
    let wrong = chain
        .admin
        .put(
            "/v1/providers/sms",
            json!({"kind": "wecom", "settings": {"corp_id": "ww", "agent_id": "1"},
                   "secrets": {"corp_secret": "x"}}),
        )
        .await;
    assert_eq!(wrong.status, 400, "{:?}", wrong.body);
    assert!(wrong.body.to_string().contains("kind"), "{:?}", wrong.body);
    let missing = chain
        .admin
        .put(
            "/v1/providers/staff_inbox",
            json!({"kind": "wecom", "settings": {"corp_id": "ww"},
                   "secrets": {"corp_secret": "x"}}),
        )
        .await;
    assert_eq!(missing.status, 400, "{:?}", missing.body);
    assert!(
        missing.body.to_string().contains("settings.agent_id"),
        "{:?}",
        missing.body
    );
    assert_eq!(
        chain.admin.get("/v1/providers/staff_inbox").await.status,
        404
    );
    // SMS through Tencent sends approved templates only: a template without its binding is
    // refused when saved, naming the field; with it, it is stored.
    let unbound = json!({"template": {"name": "到店提醒", "channel": "MESSAGE_CHANNEL_SMS",
        "locale": "zh-CN", "body": "{{customer.salutation}}，欢迎光临",
        "purpose": "MESSAGE_PURPOSE_SERVICE"}});
    let refused = chain.admin.post("/v1/templates", unbound.clone()).await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert!(
        refused
            .body
            .to_string()
            .contains("template.provider.provider_template_id"),
        "{:?}",
        refused.body
    );
    let mut bound = unbound;
    bound["template"]["provider"] = json!({"providerTemplateId": "2220", "signName": "海港酒家",
        "parameters": [{"name": "1", "variable": "customer.salutation"}]});
    chain.admin.post("/v1/templates", bound).await.ok();
    let after = chain.admin.get("/v1/providers/sms").await.ok();
    assert_eq!(after["account"]["settings"]["region"], "ap-beijing");
}

/// The birthday greeting reaches Tencent Cloud SMS with the guest's phone and the approved
/// template; the manager's reminder reaches WeCom.
async fn birthday_greeting_by_tencent_sms_and_reminder_by_wecom(backend: Backend) {
    let chain = Chain::start(backend).await;
    chain
        .admin
        .put(
            "/v1/providers/sms",
            json!({"kind": "tencent_sms",
                "settings": {"secret_id": TENCENT_SECRET_ID, "region": "ap-guangzhou",
                             "sdk_app_id": "1400006666"},
                "secrets": {"secret_key": TENCENT_SECRET_KEY}}),
        )
        .await
        .ok();
    chain
        .admin
        .put(
            "/v1/providers/staff_inbox",
            json!({"kind": "wecom", "settings": {"corp_id": "ww-chain", "agent_id": "1000002"},
                   "secrets": {"corp_secret": CORP_SECRET}}),
        )
        .await
        .ok();

    // The preset's SMS template is not bound to an approved Tencent template: enabling the
    // greeting is refused, naming the action and the template's missing field.
    let refused = chain.install("birthday_dessert_greeting", true).await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    let message = refused.body.to_string();
    assert!(
        message.contains("automation.actions[0].template_id")
            && message.contains("provider_template_id"),
        "{message}"
    );
    chain.install("birthday_dessert_greeting", false).await.ok();
    // Bound: Tencent template 1110 "{1}，生日快乐！您的甜品券码{2}", sign 海港酒家.
    let bound = chain
        .admin
        .patch(
            "/v1/templates/preset.birthday_dessert.sms",
            json!({"template": {"provider": {"providerTemplateId": "1110", "signName": "海港酒家",
                    "parameters": [{"name": "1", "variable": "customer.salutation"},
                                   {"name": "2", "variable": "coupon.code"}]}},
                   "updateMask": "provider"}),
        )
        .await
        .ok();
    assert_eq!(bound["template"]["provider"]["providerTemplateId"], "1110");
    // Reinstalling keeps the binding, and now the greeting can be enabled.
    chain.install("birthday_dessert_greeting", true).await.ok();
    chain.install("birthday_owner_reminder", true).await.ok();

    let li = chain
        .new_guest("13800138001", "李娜", birthday(store_today()))
        .await;
    let wang_fang = chain
        .new_guest(
            "13800138002",
            "王芳",
            birthday(store_today() + chrono::Duration::days(3)),
        )
        .await;
    chain.likes_dessert(&[&li, &wang_fang]).await;

    let (problems, sms) = eventually(60, || async {
        chain.fakes.sms.lock().expect("lock").first().cloned()
    })
    .await
    .expect("the greeting reaches Tencent Cloud SMS");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(sms["PhoneNumberSet"], json!(["+8613800138001"]), "{sms}");
    assert_eq!(sms["SmsSdkAppId"], "1400006666", "{sms}");
    assert_eq!(sms["TemplateId"], "1110", "{sms}");
    assert_eq!(sms["SignName"], "海港酒家", "{sms}");
    assert_eq!(
        sms["TemplateParamSet"],
        json!(["李女士", "DESSERT-2026"]),
        "{sms}"
    );
    // The message is recorded as sent.
    eventually(30, || async {
        let deliveries = chain
            .admin
            .get(&format!("/v1/messages?customerId={li}"))
            .await
            .ok()["deliveries"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        deliveries
            .into_iter()
            .find(|m| m["status"] == "MESSAGE_STATUS_SENT")
    })
    .await
    .expect("the greeting is recorded as sent");

    let (problems, reminder) = eventually(60, || async {
        chain.fakes.wecom.lock().expect("lock").first().cloned()
    })
    .await
    .expect("the reminder reaches WeCom");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(reminder["touser"], "wang", "{reminder}");
    let content = reminder["text"]["content"].as_str().unwrap_or_default();
    assert!(content.contains("王女士3天后生日"), "{reminder}");
    assert_eq!(chain.fakes.sms.lock().expect("lock").len(), 1);
}

on_both_backends!(
    provider_accounts_keep_their_secrets,
    birthday_greeting_by_tencent_sms_and_reminder_by_wecom
);
