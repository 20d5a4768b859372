//! Issue 24, receipts, replies and limits end to end, through the gateway: the chain's Tencent
//! Cloud SMS account (with its `callback_token`), the birthday greeting sent to a local fake of
//! `sms.tencentcloudapi.com` that checks the request as Tencent documents it (SendSms 2021-01-11
//! <https://cloud.tencent.com/document/api/382/55981>, TC3-HMAC-SHA256
//! <https://cloud.tencent.com/document/api/213/30654>, recomputed from what arrived) and first
//! answers with Tencent's throttling error, then:
//! - the throttled greeting is delayed, not dropped, and reaches the fake exactly once more;
//! - Tencent's status callback ("SMS Sending Status Notification",
//!   <https://www.tencentcloud.com/document/product/382/43547>: a JSON array of
//!   `{user_receive_time, nationcode, mobile, report_status, errmsg, description, sid}`, answered
//!   `{"result":0,"errmsg":"OK"}`) at the public `/v1/callbacks/tencent_sms/{chain}/status`
//!   marks it delivered in the message's history; replayed, it changes nothing;
//! - a callback with a wrong token (Tencent documents no signature on callbacks, so the URL
//!   carries the account's secret token) is refused with 401 and changes nothing;
//! - the guest's "退订" reply ("SMS Reply", <https://www.tencentcloud.com/document/api/382/43548>:
//!   `{extend, mobile, nationcode, sign, text, time}`) at `/v1/callbacks/tencent_sms/{chain}/reply`
//!   opts her out of SMS: a later marketing SMS to her is suppressed for her opt-out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::{Json, Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use chrono::Datelike;
use maitre_kit::{
    auth::Role,
    on_both_backends,
    testing::{Backend, token},
};
use maitre_notification::providers::tencent_sms::{CONTENT_TYPE, tc3_authorization};
use maitre_tests::{System, eventually, rest::Rest, setup};
use serde_json::{Value, json};

const CHAIN: &str = "chain-callbacks";
const SECRET_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const TENCENT_SECRET_ID: &str = "AKIDchainCallbacks";
const TENCENT_SECRET_KEY: &str = "tencent-secret-key-of-the-chain";
const CALLBACK_TOKEN: &str = "cb-token-9f8e7d6c5b4a3210";
const SERIAL_NO: &str = "5000:1045710669157053657849499619";
const PHONE: &str = "13800138001";

/// What the fake received: each request's problems (empty when as documented) and body; how
/// many throttling answers it still gives.
#[derive(Default)]
struct Fake {
    sms: Mutex<Vec<(Vec<String>, Value)>>,
    throttle_first: AtomicUsize,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// SendSms as documented; the first answers are Tencent's documented common error
/// `RequestLimitExceeded` ("请求的次数超过了频率限制"), the rest the documented success body.
async fn tencent_send_sms(
    State(fake): State<Arc<Fake>>,
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
    let expected = tc3_authorization(
        TENCENT_SECRET_ID,
        TENCENT_SECRET_KEY,
        "sms",
        header(&headers, "host"),
        &body,
        timestamp,
    );
    if header(&headers, "authorization") != expected {
        problems.push("authorization".to_owned());
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let phone = body["PhoneNumberSet"][0].clone();
    let context = body["SessionContext"].clone();
    fake.sms.lock().expect("lock").push((problems, body));
    let throttle = fake
        .throttle_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if throttle {
        return Json(
            json!({"Response": {"Error": {"Code": "RequestLimitExceeded",
            "Message": "请求的次数超过了频率限制。"},
            "RequestId": "b5b41468-520d-4192-b42f-595cc34b6c1c"}}),
        );
    }
    Json(
        json!({"Response": {"SendStatusSet": [{"SerialNo": SERIAL_NO,
        "PhoneNumber": phone, "Fee": 1, "SessionContext": context, "Code": "Ok",
        "Message": "send success", "IsoCode": "CN"}],
        "RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279"}}),
    )
}

async fn start_fake(throttle_first: usize) -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake {
        throttle_first: AtomicUsize::new(throttle_first),
        ..Fake::default()
    });
    let app = Router::new()
        .route("/tencent/", post(tencent_send_sms))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, format!("{base}/tencent/"))
}

fn store_today() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

/// Posts a callback as the provider does: no staff token, the raw JSON body.
async fn callback(gateway: &str, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{gateway}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("callback");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn message_of(admin: &Rest, customer: &str) -> Option<Value> {
    admin
        .get(&format!("/v1/messages?customerId={customer}"))
        .await
        .ok()["deliveries"]
        .as_array()
        .and_then(|d| d.first().cloned())
}

fn history(message: &Value) -> Vec<(String, String)> {
    message["history"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|h| {
            (
                h["status"].as_str().unwrap_or_default().to_owned(),
                h["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn receipts_replies_and_throttling_through_tencent(backend: Backend) {
    let (fake, tencent) = start_fake(1).await;
    let system = System::start_with_notification_settings(
        backend,
        &[
            ("MAITRE_SECRET_KEY", SECRET_KEY.to_owned()),
            ("MAITRE_TENCENT_SMS_ENDPOINT", tencent),
        ],
    )
    .await;
    let gateway = system.gateway.url.clone();
    let admin = Rest::new(&gateway, &token(CHAIN, Role::HqAdmin, "hq", &[]));
    let store = setup::store(&admin, "海港酒家徐汇店", "XH").await;
    // A callback token shorter than 16 characters is refused, naming it.
    let short = admin
        .put(
            "/v1/providers/sms",
            json!({"kind": "tencent_sms",
                "settings": {"secret_id": TENCENT_SECRET_ID, "region": "ap-guangzhou",
                             "sdk_app_id": "1400006666"},
                "secrets": {"secret_key": TENCENT_SECRET_KEY, "callback_token": "short"}}),
        )
        .await;
    assert_eq!(short.status, 400, "{:?}", short.body);
    assert!(short.body.to_string().contains("secrets.callback_token"));
    let set = admin
        .put(
            "/v1/providers/sms",
            json!({"kind": "tencent_sms",
                "settings": {"secret_id": TENCENT_SECRET_ID, "region": "ap-guangzhou",
                             "sdk_app_id": "1400006666"},
                "secrets": {"secret_key": TENCENT_SECRET_KEY, "callback_token": CALLBACK_TOKEN}}),
        )
        .await
        .ok();
    assert!(!set.to_string().contains(CALLBACK_TOKEN), "{set}");
    admin
        .post(
            "/v1/automation-presets/birthday_dessert_greeting:install",
            json!({"enable": false, "coupon": "DESSERT-2026"}),
        )
        .await
        .ok();
    admin
        .patch(
            "/v1/templates/preset.birthday_dessert.sms",
            json!({"template": {"provider": {"providerTemplateId": "1110", "signName": "海港酒家",
                    "parameters": [{"name": "1", "variable": "customer.salutation"},
                                   {"name": "2", "variable": "coupon.code"}]}},
                   "updateMask": "provider"}),
        )
        .await
        .ok();
    admin
        .post(
            "/v1/automation-presets/birthday_dessert_greeting:install",
            json!({"enable": true, "coupon": "DESSERT-2026"}),
        )
        .await
        .ok();
    let today = store_today();
    let li = setup::guest_born(
        &admin,
        &store,
        PHONE,
        "李娜",
        "female",
        json!({"year": 1990, "month": today.month(), "day": today.day()}),
    )
    .await;
    let tag = setup::active_manual_tag(&admin, "likes_dessert").await;
    setup::add_member(&admin, &tag, &li).await;

    // Throttled first, then sent: the fake sees the same message twice, and only twice.
    let sent = eventually(90, || async {
        message_of(&admin, &li)
            .await
            .filter(|m| m["status"] == "MESSAGE_STATUS_SENT")
    })
    .await
    .expect("the greeting is sent after the throttling answer");
    let requests = fake.sms.lock().expect("lock").clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for (problems, sms) in &requests {
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            sms["PhoneNumberSet"],
            json!([format!("+86{PHONE}")]),
            "{sms}"
        );
        assert_eq!(sms["TemplateId"], "1110", "{sms}");
        assert_eq!(
            sms["TemplateParamSet"],
            json!(["李女士", "DESSERT-2026"]),
            "{sms}"
        );
        assert_eq!(sms["SessionContext"], sent["messageId"], "{sms}");
    }
    let steps = history(&sent);
    assert!(
        steps
            .iter()
            .any(|(s, r)| s == "MESSAGE_STATUS_QUEUED" && r.starts_with("provider_throttled")),
        "{steps:?}"
    );
    assert_eq!(sent["attempts"], 1, "{sent}");
    let message_id = sent["messageId"].as_str().expect("id").to_owned();

    // A report with the wrong token is refused and changes nothing.
    let report = json!([{"user_receive_time": "2026-12-07 08:03:04", "nationcode": "86",
        "mobile": PHONE, "report_status": "SUCCESS", "errmsg": "DELIVRD",
        "description": "用户短信送达成功", "sid": SERIAL_NO}]);
    let (status, body) = callback(
        &gateway,
        &format!("/v1/callbacks/tencent_sms/{CHAIN}/status?token=not-the-token-at-all"),
        report.clone(),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(body.is_object(), "a JSON error: {body}");
    let (status, _) = callback(
        &gateway,
        &format!("/v1/callbacks/tencent_sms/{CHAIN}/status"),
        report.clone(),
    )
    .await;
    assert_eq!(status, 401);
    let unchanged = admin.get(&format!("/v1/messages/{message_id}")).await.ok();
    assert_eq!(
        unchanged["delivery"]["status"], "MESSAGE_STATUS_SENT",
        "{unchanged}"
    );

    // The report marks it delivered; replayed, nothing more changes.
    let status_url = format!("/v1/callbacks/tencent_sms/{CHAIN}/status?token={CALLBACK_TOKEN}");
    for _ in 0..2 {
        let (status, body) = callback(&gateway, &status_url, report.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"result": 0, "errmsg": "OK"}));
    }
    let delivered = admin.get(&format!("/v1/messages/{message_id}")).await.ok()["delivery"].clone();
    assert_eq!(
        delivered["status"], "MESSAGE_STATUS_DELIVERED",
        "{delivered}"
    );
    let steps = history(&delivered);
    assert_eq!(
        steps
            .iter()
            .filter(|(s, _)| s == "MESSAGE_STATUS_DELIVERED")
            .count(),
        1,
        "{steps:?}"
    );
    assert!(
        steps.iter().any(|(_, r)| r.contains("DELIVRD")),
        "{steps:?}"
    );

    // A bad reply callback changes nothing; "退订" opts her out of SMS.
    let reply = json!({"extend": "", "mobile": PHONE, "nationcode": "86", "sign": "海港酒家",
        "text": "退订", "time": chrono::Utc::now().timestamp()});
    let (status, _) = callback(
        &gateway,
        &format!("/v1/callbacks/tencent_sms/{CHAIN}/reply?token=x{CALLBACK_TOKEN}"),
        reply.clone(),
    )
    .await;
    assert_eq!(status, 401);
    let before = admin
        .get(&format!("/v1/customers/{li}/preferences"))
        .await
        .ok();
    assert!(
        !before
            .to_string()
            .contains("\"optedOut\":[\"MESSAGE_CHANNEL_SMS\"]"),
        "{before}"
    );
    let (status, body) = callback(
        &gateway,
        &format!("/v1/callbacks/tencent_sms/{CHAIN}/reply?token={CALLBACK_TOKEN}"),
        reply,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let after = admin
        .get(&format!("/v1/customers/{li}/preferences"))
        .await
        .ok();
    assert_eq!(
        after["preferences"]["optedOut"],
        json!(["MESSAGE_CHANNEL_SMS"]),
        "{after}"
    );

    // A later marketing SMS to her is suppressed for her opt-out, never reaching the fake.
    let later = admin
        .post(
            "/v1/messages",
            json!({"requestId": "after-opt-out", "customerId": li,
                   "channel": "MESSAGE_CHANNEL_SMS", "templateId": "preset.birthday_dessert.sms",
                   "purpose": "MESSAGE_PURPOSE_MARKETING",
                   "variables": {"coupon.code": "LATER-1",
                                 "coupon.expires_on": "2026-12-31"}}),
        )
        .await
        .ok();
    let later_id = later["delivery"]["messageId"]
        .as_str()
        .expect("id")
        .to_owned();
    let suppressed = eventually(30, || async {
        let m = admin.get(&format!("/v1/messages/{later_id}")).await.ok()["delivery"].clone();
        (m["status"] == "MESSAGE_STATUS_SUPPRESSED").then_some(m)
    })
    .await
    .expect("the later SMS is suppressed");
    assert!(
        history(&suppressed).iter().any(|(_, r)| r == "opted_out"),
        "{suppressed}"
    );
    assert_eq!(fake.sms.lock().expect("lock").len(), 2);
}

on_both_backends!(receipts_replies_and_throttling_through_tencent);
