//! Message opens (issue 19 item 6, seed 002 §1 "互动偏好(如…是否打开活动邮件)"), through the
//! gateway: the open callback of whatever a message led to (`POST /v1/messages/{id}:opened`)
//! is stored on the message once, reaches tagging as an interaction fact, and an interaction
//! tag `messages_opened(30d) >= 1` takes the guest in; a repeated callback changes nothing,
//! another chain cannot open the message, and a message no provider had cannot be opened.

use maitre_kit::{
    auth::Role,
    on_both_backends,
    testing::{Backend, token},
};
use maitre_tests::{eventually, rest::Rest, setup, setup::Journey};
use serde_json::{Value, json};

const CHAIN: &str = "chain-opens";

async fn an_open_makes_an_interaction_tag(backend: Backend) {
    let j = Journey::start(backend, CHAIN, "海港酒家静安店").await;
    // The language knows the function: listed, and a rule over it checks.
    let functions = j.admin.get("/v1/rules/functions").await.ok();
    assert!(
        functions["functions"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["name"] == "messages_opened")),
        "{functions}"
    );
    let rule = "messages_opened(30d) >= 1";
    let checked = j
        .admin
        .post("/v1/rules:validate", json!({"rule": rule}))
        .await
        .ok();
    assert_eq!(checked["valid"], true, "{checked}");
    let opener = j
        .admin
        .post(
            "/v1/tags",
            json!({"tag": {"name": "message_opener", "category": "TAG_CATEGORY_INTERACTION",
                           "source": "TAG_SOURCE_RULE", "rule": rule}}),
        )
        .await
        .ok()["tag"]["tagId"]
        .as_str()
        .expect("tag id")
        .to_owned();
    j.admin
        .post(
            &format!("/v1/tags/{opener}:transition"),
            json!({"lifecycle": "TAG_LIFECYCLE_ACTIVE"}),
        )
        .await
        .ok();

    let li = j.guest("13900139101", "李娜", "female").await;
    let template = setup::sms_template(&j.admin, "新品", "{{customer.salutation}}，新品上市").await;
    let body = json!({"customerId": li, "channel": "MESSAGE_CHANNEL_SMS",
                      "templateId": template, "requestId": "open-me"});
    let sent = eventually(30, || async {
        let reply = j.admin.post("/v1/messages", body.clone()).await;
        (reply.status == 200).then_some(reply.body)
    })
    .await
    .expect("notification takes the message");
    let message = sent["delivery"]["messageId"]
        .as_str()
        .expect("message id")
        .to_owned();
    let opened_path = format!("/v1/messages/{message}:opened");

    eventually(60, || async {
        let got = j.admin.get(&format!("/v1/messages/{message}")).await.ok();
        (got["delivery"]["status"] == "MESSAGE_STATUS_SENT").then_some(())
    })
    .await
    .expect("the message is sent");

    // Another chain's open callback does not find it.
    let other = Rest::new(
        &j.system.gateway.url,
        &token("chain-opens-other", Role::HqAdmin, "hq", &[]),
    );
    let foreign = other.post(&opened_path, json!({})).await;
    assert_eq!(foreign.status, 404, "{foreign:?}");

    // A time before the message existed is refused naming the field.
    let bad = j
        .admin
        .post(&opened_path, json!({"openedAt": "2001-01-01T00:00:00Z"}))
        .await;
    assert_eq!(bad.status, 400, "{bad:?}");
    assert_eq!(bad.body["field"], "opened_at", "{bad:?}");

    let first = j.admin.post(&opened_path, json!({})).await.ok();
    assert_eq!(first["firstOpen"], true, "{first}");
    let opened_at = first["delivery"]["openedAt"].clone();
    assert!(opened_at.is_string(), "{first}");
    let again = j.admin.post(&opened_path, json!({})).await.ok();
    assert_eq!(
        again["firstOpen"],
        Value::Null,
        "a repeat is no first open: {again}"
    );
    assert_eq!(again["delivery"]["openedAt"], opened_at, "{again}");

    // A message no provider had (suppressed: the guest gave no marketing consent) cannot have
    // been opened.
    let zhao = j
        .admin
        .post(
            "/v1/customers",
            json!({"identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": "13900139102"}],
                   "storeId": j.store, "requestId": "new-zhao",
                   "profile": {"name": "赵敏", "gender": "female"}}),
        )
        .await
        .ok()["customer"]["customerId"]
        .as_str()
        .expect("customer id")
        .to_owned();
    let offer = setup::template(
        &j.admin,
        "优惠",
        "新品八折。回T退订",
        "MESSAGE_PURPOSE_MARKETING",
    )
    .await;
    let body = json!({"customerId": zhao, "channel": "MESSAGE_CHANNEL_SMS",
                      "templateId": offer, "requestId": "no-consent"});
    let held = eventually(30, || async {
        let reply = j.admin.post("/v1/messages", body.clone()).await;
        (reply.status == 200).then_some(reply.body)
    })
    .await
    .expect("notification takes the message");
    let held = held["delivery"]["messageId"]
        .as_str()
        .expect("message id")
        .to_owned();
    eventually(60, || async {
        let got = j.admin.get(&format!("/v1/messages/{held}")).await.ok();
        (got["delivery"]["status"] == "MESSAGE_STATUS_SUPPRESSED").then_some(())
    })
    .await
    .expect("the message is suppressed");
    let refused = j
        .admin
        .post(&format!("/v1/messages/{held}:opened"), json!({}))
        .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(refused.body["field"], "message_id", "{refused:?}");
    let still = j.admin.get(&format!("/v1/messages/{held}")).await.ok();
    assert!(still["delivery"]["openedAt"].is_null(), "{still}");

    // Tagging counts the open once and the interaction tag takes her in.
    j.member_of(&opener, &li).await;
    let explained = j
        .admin
        .get(&format!("/v1/customers/{li}/tags/{opener}:explain"))
        .await
        .ok();
    let opens = explained["terms"]
        .as_array()
        .and_then(|terms| terms.iter().find(|t| t["term"] == "messages_opened(30d)"))
        .map(|t| t["value"].clone());
    assert_eq!(opens, Some(json!("1")), "{explained}");
}

on_both_backends!(an_open_makes_an_interaction_tag);
