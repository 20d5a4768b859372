//! Tenant isolation and role scope through the gateway, against the real services: every
//! cross-chain and out-of-scope access is refused (403/404) and never returns data; bad
//! tokens are 401; the front desk sees masked phones and cannot list (export) customers.

use maitre_kit::{
    auth::{DEVELOPMENT_SECRET, Minter, Role},
    testing::{Backend, token},
};
use maitre_tests::{System, rest::Rest};
use serde_json::{Value, json};

const PHONE: &str = "13800138000";

/// What chain A owns, created through the API.
struct ChainA {
    store: String,
    other_store: String,
    customer: String,
    tag: String,
    template: String,
}

async fn seed_chain_a(admin: &Rest) -> ChainA {
    let store = |code: &str| json!({"store": {"name": format!("A {code}"), "timeZone": "Asia/Shanghai", "code": code}});
    let s1 = admin.post("/v1/stores", store("A1")).await.ok()["store"]["storeId"]
        .as_str()
        .unwrap()
        .to_owned();
    let s2 = admin.post("/v1/stores", store("A2")).await.ok()["store"]["storeId"]
        .as_str()
        .unwrap()
        .to_owned();
    admin
        .put("/v1/managers/wang", json!({"manager": {"managerId": "wang", "name": "王经理", "storeIds": [s1], "capacity": "10", "status": "MANAGER_STATUS_ON_DUTY"}}))
        .await
        .ok();
    let event = admin
        .post(
            "/v1/events",
            json!({"event": {"channel": "EVENT_CHANNEL_POS", "externalId": "a-1", "kind": "CONTACT_KIND_VISIT",
                "identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": PHONE}], "storeId": s1, "managerId": "wang",
                "amount": {"amountFen": "12800"}, "occurredAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}}),
        )
        .await
        .ok();
    let customer = event["customer"]["customerId"].as_str().unwrap().to_owned();
    let tag = admin
        .post("/v1/tags", json!({"tag": {"name": "vip_a", "category": "TAG_CATEGORY_BEHAVIOUR", "source": "TAG_SOURCE_MANUAL"}}))
        .await
        .ok()["tag"]["tagId"]
        .as_str()
        .unwrap()
        .to_owned();
    let template = admin
        .post("/v1/templates", json!({"template": {"name": "hello", "channel": "MESSAGE_CHANNEL_SMS", "locale": "zh-CN", "body": "您好 {{customer.name}}", "purpose": "MESSAGE_PURPOSE_SERVICE"}}))
        .await
        .ok()["template"]["templateId"]
        .as_str()
        .unwrap()
        .to_owned();
    ChainA {
        store: s1,
        other_store: s2,
        customer,
        tag,
        template,
    }
}

/// Asserts a refusal (403 or 404) that leaks none of `secrets`.
#[track_caller]
fn assert_refused(what: &str, status: u16, body: &Value, secrets: &[&str]) {
    assert!(
        status == 403 || status == 404,
        "{what}: expected 403/404, got {status} {body}"
    );
    let text = body.to_string();
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{what}: refusal leaks `{secret}`: {text}"
        );
    }
}

async fn isolation(backend: Backend) {
    let system = System::start(backend).await;
    let gateway = &system.gateway.url;
    let admin_a = Rest::new(gateway, &token("chain-a", Role::HqAdmin, "hq-a", &[]));
    let a = seed_chain_a(&admin_a).await;
    let secrets = [PHONE, "王经理", "vip_a"];

    // Every role of chain B, including chain-wide HQ, against every resource of chain A.
    for role in [
        Role::HqAdmin,
        Role::StoreManager,
        Role::CustomerManager,
        Role::FrontDesk,
    ] {
        let b = Rest::new(gateway, &token("chain-b", role, "wang", &[&a.store]));
        for path in [
            format!("/v1/stores/{}", a.store),
            format!("/v1/customers/{}", a.customer),
            format!("/v1/customers/{}/events", a.customer),
            format!("/v1/customers/{}/ownership", a.customer),
            format!("/v1/customers/{}/ownership/history", a.customer),
            format!("/v1/customers/{}/tags", a.customer),
            "/v1/managers/wang".to_owned(),
            format!("/v1/tags/{}", a.tag),
            format!("/v1/templates/{}", a.template),
        ] {
            let reply = b.get(&path).await;
            assert_refused(
                &format!("{role:?} of chain B GET {path}"),
                reply.status,
                &reply.body,
                &secrets,
            );
        }
        // Look-ups by key find nothing of chain A.
        let lookup = b
            .post(
                "/v1/customers:lookup",
                json!({"identityKey": {"kind": "IDENTITY_KIND_PHONE", "value": PHONE}}),
            )
            .await;
        assert_refused(
            &format!("{role:?} of chain B lookup"),
            lookup.status,
            &lookup.body,
            &secrets,
        );
        // Lists answer with chain B's (empty) data only.
        for path in ["/v1/stores", "/v1/managers", "/v1/tags", "/v1/templates"] {
            let reply = b.get(path).await;
            let text = reply.body.to_string();
            assert!(
                secrets.iter().all(|s| !text.contains(s)) && !text.contains(&a.store),
                "{role:?} of chain B lists {path}: {text}"
            );
        }
    }

    // Chain B cannot change chain A's data either; chain A's customer is unchanged.
    let admin_b = Rest::new(gateway, &token("chain-b", Role::HqAdmin, "hq-b", &[]));
    let patch = admin_b
        .patch(&format!("/v1/customers/{}", a.customer), json!({"customer": {"customerId": a.customer, "profile": {"name": "hijacked"}}, "updateMask": "profile.name"}))
        .await;
    assert_refused(
        "chain B PATCH customer",
        patch.status,
        &patch.body,
        &secrets,
    );
    let transfer = admin_b
        .post(
            &format!("/v1/customers/{}:transfer", a.customer),
            json!({"toManagerId": "wang"}),
        )
        .await;
    assert_refused(
        "chain B transfer",
        transfer.status,
        &transfer.body,
        &secrets,
    );
    let after = admin_a
        .get(&format!("/v1/customers/{}", a.customer))
        .await
        .ok();
    assert_ne!(after["customer"]["profile"]["name"], "hijacked");

    // Within chain A: a store manager of the other store cannot read this store.
    let other = Rest::new(
        gateway,
        &token("chain-a", Role::StoreManager, "sm-2", &[&a.other_store]),
    );
    let reply = other.get(&format!("/v1/stores/{}", a.store)).await;
    assert_refused(
        "store manager of another store",
        reply.status,
        &reply.body,
        &[],
    );

    // Chain-wide settings are HQ's: a store manager cannot move the churn threshold.
    let settings = other
        .patch(
            "/v1/models/settings",
            json!({"settings": {"churnThreshold": 0.9}}),
        )
        .await;
    assert_eq!(settings.status, 403, "{}", settings.body);

    // The front desk sees the phone masked and cannot list (export) customers.
    let desk = Rest::new(
        gateway,
        &token("chain-a", Role::FrontDesk, "desk-1", &[&a.store]),
    );
    let seen = desk
        .get(&format!("/v1/customers/{}", a.customer))
        .await
        .ok();
    let text = seen.to_string();
    assert!(
        !text.contains("13800138000") && text.contains("138****8000"),
        "front desk sees a masked phone: {text}"
    );
    let list = desk.get("/v1/customers").await;
    assert_eq!(list.status, 403, "front desk cannot export: {}", list.body);

    // Tokens: forged, expired and wrong-algorithm tokens are 401 before any service.
    let forged = Minter::hs256("not-the-key")
        .mint("x", "chain-a", Role::HqAdmin, &[], 60)
        .unwrap();
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "x", "chain": "chain-a", "role": "hq_admin", "exp": chrono::Utc::now().timestamp() - 600}),
        &jsonwebtoken::EncodingKey::from_secret(DEVELOPMENT_SECRET.as_bytes()),
    )
    .unwrap();
    let wrong_alg = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &json!({"sub": "x", "chain": "chain-a", "role": "hq_admin", "exp": chrono::Utc::now().timestamp() + 600}),
        &jsonwebtoken::EncodingKey::from_secret(DEVELOPMENT_SECRET.as_bytes()),
    )
    .unwrap();
    for bad in [forged, expired, wrong_alg, "garbage".to_owned()] {
        let reply = Rest::new(gateway, &bad)
            .get(&format!("/v1/customers/{}", a.customer))
            .await;
        assert_eq!(reply.status, 401, "{}", reply.body);
    }
}

maitre_kit::on_both_backends!(isolation);
