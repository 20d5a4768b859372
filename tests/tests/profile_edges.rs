//! Issue 20 item 11 through the gateway, as an app meets it: identity keys read back as given,
//! with a WeChat openid's app in its own field (`appId`, in the OpenAPI document too), matched
//! on (app, openid), and an app id on any other kind refused by name.

use maitre_kit::{
    auth::Role,
    on_both_backends,
    testing::{Backend, token},
};
use maitre_tests::{System, rest::Rest, setup};
use serde_json::{Value, json};

const CHAIN: &str = "chain-profile-edges";

fn openids(customer: &Value) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = customer["identityKeys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter(|k| k["kind"] == "IDENTITY_KIND_WECHAT_OPENID")
        .map(|k| {
            (
                k["appId"].as_str().unwrap_or_default().to_owned(),
                k["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    keys.sort();
    keys
}

async fn openids_read_back_with_their_app(backend: Backend) {
    let system = System::start(backend).await;
    let gateway = system.gateway.url.clone();
    let admin = Rest::new(&gateway, &token(CHAIN, Role::HqAdmin, "hq", &[]));
    let store = setup::store(&admin, "静安店", "JA").await;
    let recorded = admin
        .post(
            "/v1/events",
            json!({"event": {
                "channel": "EVENT_CHANNEL_MINI_PROGRAM", "externalId": "mp-1",
                "kind": "CONTACT_KIND_VISIT", "storeId": store, "partySize": 2,
                "identityKeys": [
                    {"kind": "IDENTITY_KIND_WECHAT_OPENID", "value": "o123"},
                    {"kind": "IDENTITY_KIND_WECHAT_OPENID", "value": "o456", "appId": "wx9"},
                ],
                "amount": {"amountFen": "8800", "currency": "CNY"},
                "occurredAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            }}),
        )
        .await
        .ok();
    let customer = &recorded["customer"];
    let expected = vec![
        (String::new(), "o123".to_owned()),
        ("wx9".to_owned(), "o456".to_owned()),
    ];
    assert_eq!(openids(customer), expected, "{customer}");
    let id = customer["customerId"].as_str().expect("id");
    let read = admin.get(&format!("/v1/customers/{id}")).await.ok();
    assert_eq!(openids(&read["customer"]), expected, "{read}");

    // Looked up by (app, openid): the same openid in another app is nobody here.
    let found = admin
        .post(
            "/v1/customers:lookup",
            json!({"identityKey": {"kind": "IDENTITY_KIND_WECHAT_OPENID", "value": "o456", "appId": "wx9"}}),
        )
        .await
        .ok();
    assert_eq!(found["customer"]["customerId"], id);
    let elsewhere = admin
        .post(
            "/v1/customers:lookup",
            json!({"identityKey": {"kind": "IDENTITY_KIND_WECHAT_OPENID", "value": "o456", "appId": "wx7"}}),
        )
        .await;
    assert_eq!(elsewhere.status, 404, "{:?}", elsewhere.body);
    let misplaced = admin
        .post(
            "/v1/customers:lookup",
            json!({"identityKey": {"kind": "IDENTITY_KIND_PHONE", "value": "13800138000", "appId": "wx9"}}),
        )
        .await;
    assert_eq!(misplaced.status, 400, "{:?}", misplaced.body);
    assert_eq!(
        misplaced.body["field"], "identity_key.app_id",
        "{:?}",
        misplaced.body
    );

    // The contract an app is generated from says so too.
    let doc: Value = maitre_kit::http::client()
        .get(format!("{gateway}/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    let key = &doc["components"]["schemas"]["maitre.common.v1.IdentityKey"]["properties"];
    assert!(key["appId"].is_object(), "{key}");
}

on_both_backends!(openids_read_back_with_their_app);
