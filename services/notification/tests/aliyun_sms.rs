//! The Alibaba Cloud SMS provider against a local fake of `dysmsapi.aliyuncs.com` that checks
//! each request as <https://help.aliyun.com/document_detail/56189.html> (HTTP protocol and
//! signature) and <https://help.aliyun.com/document_detail/419273.html> (SendSms) describe it —
//! the common and SendSms parameters and the signature recomputed from the form that arrived —
//! and answers with the documented success, throttling and error bodies.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::{Router, body::Bytes, routing::post};
use maitre_notification::domain::channel::Channel;
use maitre_notification::providers::aliyun_sms::{AliyunSms, AliyunSmsAccount, rpc_signature};
use maitre_notification::providers::{OutboundMessage, Provider, ProviderError};
use serde_json::{Value, json};

const KEY_ID: &str = "LTAIfakeKeyId";
const KEY_SECRET: &str = "fakeKeySecret";

/// A request's form parameters, in arrival order.
type Params = Vec<(String, String)>;

#[derive(Default)]
struct Fake {
    answer: Mutex<Value>,
    /// Each request's problems (empty when as documented) and its parameters.
    seen: Mutex<Vec<(Vec<String>, Params)>>,
}

fn decode(body: &[u8]) -> Params {
    url::form_urlencoded::parse(body).into_owned().collect()
}

async fn answer(fake: Arc<Fake>, body: Bytes) -> axum::Json<Value> {
    let params = decode(&body);
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut problems = Vec::new();
    for (name, want) in [
        ("AccessKeyId", KEY_ID),
        ("Action", "SendSms"),
        ("Version", "2017-05-25"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("Format", "JSON"),
    ] {
        if get(name) != want {
            problems.push(format!("{name}: {:?}", get(name)));
        }
    }
    for name in [
        "SignatureNonce",
        "Timestamp",
        "PhoneNumbers",
        "SignName",
        "TemplateCode",
    ] {
        if get(name).is_empty() {
            problems.push(format!("{name} missing"));
        }
    }
    if get("Signature") != rpc_signature("POST", &params, KEY_SECRET) {
        problems.push(format!("Signature: {:?}", get("Signature")));
    }
    fake.seen.lock().expect("lock").push((problems, params));
    axum::Json(fake.answer.lock().expect("lock").clone())
}

async fn start_fake() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::default());
    let state = fake.clone();
    let app = Router::new().route("/", post(move |body: Bytes| answer(state.clone(), body)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, url)
}

fn provider(url: &str) -> AliyunSms {
    AliyunSms::new(
        url,
        AliyunSmsAccount {
            access_key_id: KEY_ID.into(),
            access_key_secret: KEY_SECRET.into(),
            sign_name: "海港酒家".into(),
            template_code: "SMS_71390007".into(),
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
        body: "李女士，生日快乐".into(),
        campaign_id: String::new(),
        automation_id: "birthday".into(),
        recipient: "13800138001".into(),
        parameters: vec![
            ("name".into(), "李女士".into()),
            ("coupon".into(), "DESSERT-2026".into()),
        ],
        provider_template_id: String::new(),
        sign_name: String::new(),
    }
}

#[tokio::test]
async fn sends_as_documented_and_classifies_answers() {
    let (fake, url) = start_fake().await;
    let sms = provider(&url);
    // SendSms's documented success answer.
    *fake.answer.lock().expect("lock") = json!({"Code": "OK", "Message": "OK",
        "BizId": "9006197469364984400", "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990"});
    assert_eq!(
        sms.send(&greeting()).await.expect("sent"),
        "9006197469364984400"
    );
    {
        let seen = fake.seen.lock().expect("lock");
        let (problems, params) = &seen[0];
        assert!(problems.is_empty(), "{problems:?}");
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("PhoneNumbers"), Some("13800138001"));
        assert_eq!(get("SignName"), Some("海港酒家"));
        assert_eq!(get("OutId"), Some("msg-1"));
        let template: Value =
            serde_json::from_str(get("TemplateParam").expect("param")).expect("json");
        assert_eq!(
            template,
            json!({"name": "李女士", "coupon": "DESSERT-2026"})
        );
    }
    // The per-number flow control: a delay, not a drop.
    *fake.answer.lock().expect("lock") = json!({"Code": "isv.BUSINESS_LIMIT_CONTROL",
        "Message": "触发小时级流控Permits:5", "RequestId": "r2"});
    assert!(matches!(
        sms.send(&greeting()).await,
        Err(ProviderError::Throttled {
            retry_after_ms: 3_600_000,
            ..
        })
    ));
    // An illegal template is permanent.
    *fake.answer.lock().expect("lock") = json!({"Code": "isv.SMS_TEMPLATE_ILLEGAL",
        "Message": "该账号下找不到对应模板", "RequestId": "r3"});
    assert!(matches!(
        sms.send(&greeting()).await,
        Err(ProviderError::Permanent { .. })
    ));
    for (problems, _) in fake.seen.lock().expect("lock").iter() {
        assert!(problems.is_empty(), "{problems:?}");
    }
}
