//! The Tencent Cloud SMS provider against a local fake of `sms.tencentcloudapi.com` that checks
//! each request as <https://cloud.tencent.com/document/api/382/55981> (SendSms 2021-01-11) and
//! <https://cloud.tencent.com/document/api/213/30654> (signature v3) describe it — the headers,
//! the body fields and the TC3-HMAC-SHA256 signature recomputed from what arrived — and answers
//! with the documented success, throttling and error bodies.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::{Router, body::Bytes, http::HeaderMap, routing::post};
use maitre_notification::domain::channel::Channel;
use maitre_notification::providers::tencent_sms::{
    CONTENT_TYPE, TencentSms, TencentSmsAccount, tc3_authorization,
};
use maitre_notification::providers::{OutboundMessage, Provider, ProviderError};
use serde_json::{Value, json};

const SECRET_ID: &str = "AKIDfakeSecretId";
const SECRET_KEY: &str = "fakeSecretKey";

/// The fake's answer to the next request, and what it checked.
#[derive(Default)]
struct Fake {
    answer: Mutex<Value>,
    /// Every request's problems (empty when it was as documented) and body.
    seen: Mutex<Vec<(Vec<String>, Value)>>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn answer(fake: Arc<Fake>, headers: HeaderMap, body: Bytes) -> axum::Json<Value> {
    let mut problems = Vec::new();
    let host = header(&headers, "host").to_owned();
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
    let expected = tc3_authorization(SECRET_ID, SECRET_KEY, "sms", &host, &body, timestamp);
    if header(&headers, "authorization") != expected {
        problems.push(format!(
            "authorization: {:?} (expected {expected:?})",
            header(&headers, "authorization")
        ));
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    fake.seen.lock().expect("lock").push((problems, body));
    axum::Json(fake.answer.lock().expect("lock").clone())
}

async fn start_fake() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::default());
    let state = fake.clone();
    let app = Router::new().route(
        "/",
        post(move |headers: HeaderMap, body: Bytes| answer(state.clone(), headers, body)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, url)
}

fn provider(url: &str) -> TencentSms {
    TencentSms::new(
        url,
        TencentSmsAccount {
            secret_id: SECRET_ID.into(),
            secret_key: SECRET_KEY.into(),
            region: "ap-guangzhou".into(),
            sdk_app_id: "1400006666".into(),
            sign_name: "海港酒家".into(),
            template_id: "1110".into(),
        },
        Duration::from_secs(5),
    )
    .expect("provider")
}

fn greeting() -> OutboundMessage {
    OutboundMessage {
        chain_id: "chain-1".into(),
        message_id: "msg-1".into(),
        customer_id: "g1".into(),
        staff_id: String::new(),
        channel: Channel::Sms,
        subject: None,
        body: "李女士，海港酒家静安店祝您生日快乐！".into(),
        campaign_id: String::new(),
        automation_id: "birthday".into(),
        recipient: "+8613800138001".into(),
        parameters: vec![
            ("name".into(), "李女士".into()),
            ("coupon".into(), "DESSERT-2026".into()),
        ],
        provider_template_id: String::new(),
        sign_name: String::new(),
    }
}

/// SendSms's documented answer ("示例1 发送短信" of the SendSms page).
fn documented_success() -> Value {
    json!({"Response": {"SendStatusSet": [{"SerialNo": "5000:1045710669157053657849499619",
        "PhoneNumber": "+8613800138001", "Fee": 1, "SessionContext": "msg-1", "Code": "Ok",
        "Message": "send success", "IsoCode": "CN"}],
        "RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279"}})
}

#[tokio::test]
async fn sends_as_documented_and_reads_the_serial_number() {
    let (fake, url) = start_fake().await;
    *fake.answer.lock().expect("lock") = documented_success();
    let serial = provider(&url).send(&greeting()).await.expect("sent");
    assert_eq!(serial, "5000:1045710669157053657849499619");
    let seen = fake.seen.lock().expect("lock");
    let (problems, body) = &seen[0];
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        body,
        &json!({"PhoneNumberSet": ["+8613800138001"], "SmsSdkAppId": "1400006666",
                "SignName": "海港酒家", "TemplateId": "1110",
                "TemplateParamSet": ["李女士", "DESSERT-2026"], "SessionContext": "msg-1"})
    );
}

#[tokio::test]
async fn throttling_delays_and_errors_are_classified() {
    let (fake, url) = start_fake().await;
    let sms = provider(&url);
    // A number over its 30-second limit: the send status carries the code.
    *fake.answer.lock().expect("lock") = json!({"Response": {"SendStatusSet": [{
        "SerialNo": "", "PhoneNumber": "+8613800138001", "Fee": 0, "SessionContext": "msg-1",
        "Code": "LimitExceeded.PhoneNumberThirtySecondLimit",
        "Message": "the number of SMS messages sent from a single mobile number within 30 seconds exceeds the upper limit",
        "IsoCode": "CN"}], "RequestId": "r1"}});
    assert!(matches!(
        sms.send(&greeting()).await,
        Err(ProviderError::Throttled {
            retry_after_ms: 30_000,
            ..
        })
    ));
    // The API's request rate (common error code).
    *fake.answer.lock().expect("lock") = json!({"Response": {"Error": {
        "Code": "RequestLimitExceeded", "Message": "request limit exceeded"}, "RequestId": "r2"}});
    assert!(matches!(
        sms.send(&greeting()).await,
        Err(ProviderError::Throttled {
            retry_after_ms: _,
            ..
        })
    ));
    // A wrong signature or an unapproved template is permanent.
    *fake.answer.lock().expect("lock") = json!({"Response": {"Error": {
        "Code": "AuthFailure.SignatureFailure", "Message": "The provided credentials could not be validated."},
        "RequestId": "r3"}});
    assert!(matches!(
        sms.send(&greeting()).await,
        Err(ProviderError::Permanent { .. })
    ));
    *fake.answer.lock().expect("lock") = json!({"Response": {"Error": {
        "Code": "FailedOperation.TemplateIncorrectOrUnapproved", "Message": "template unapproved"},
        "RequestId": "r4"}});
    assert!(matches!(
        sms.send(&greeting()).await,
        Err(ProviderError::Permanent { .. })
    ));
    // Every request was as documented.
    for (problems, _) in fake.seen.lock().expect("lock").iter() {
        assert!(problems.is_empty(), "{problems:?}");
    }
    // No phone number: refused before any request.
    let mut unknown = greeting();
    unknown.recipient.clear();
    assert!(matches!(
        sms.send(&unknown).await,
        Err(ProviderError::Permanent { .. })
    ));
    assert_eq!(fake.seen.lock().expect("lock").len(), 4);
}
