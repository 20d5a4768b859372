//! Accepted but wrong (issue 21 item 4): inputs the services used to store are refused at
//! their cause, naming the field, on both backends, and change nothing — a currency the chain
//! does not use, times and birthdays outside the contract's window, oversized lists, a model
//! tag of no model, a recompute without its idempotency key.

use maitre_kit::{
    auth::Role,
    testing::{Backend, token},
};
use maitre_tests::{
    System,
    rest::{Reply, Rest},
    setup,
};
use serde_json::{Value, json};

#[track_caller]
fn assert_refused(reply: Reply, field: &str) {
    assert_eq!(reply.status, 400, "{field}: {}", reply.body);
    assert_eq!(reply.body["code"], "INVALID_ARGUMENT", "{}", reply.body);
    assert_eq!(reply.body["field"], field, "{}", reply.body);
}

fn visit(store: &str, external_id: &str, currency: &str, occurred_at: &str) -> Value {
    json!({"event": {
        "channel": "EVENT_CHANNEL_POS", "externalId": external_id, "kind": "CONTACT_KIND_VISIT",
        "identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": "+8613800138021"}],
        "storeId": store, "partySize": 2, "occurredAt": occurred_at,
        "amount": {"amountFen": "20000", "currency": currency},
    }})
}

async fn wrong_inputs_are_refused_at_their_cause(backend: Backend) {
    let system = System::start(backend).await;
    let hq = token("chain-bounds", Role::HqAdmin, "hq-1", &[]);
    let admin = Rest::new(&system.gateway.url, &hq);
    let store = setup::store(&admin, "Main", "M1").await;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

    // Money in a currency the chain does not use is not counted as its fen.
    assert_refused(
        admin
            .post("/v1/events", visit(&store, "pos-1", "XXX'; --", &now))
            .await,
        "event.amount.currency",
    );
    assert_refused(
        admin
            .post("/v1/events", visit(&store, "pos-2", "USD", &now))
            .await,
        "event.amount.currency",
    );
    // Times outside the window the contract states.
    assert_refused(
        admin
            .post(
                "/v1/events",
                visit(&store, "pos-3", "CNY", "0001-01-01T00:00:00Z"),
            )
            .await,
        "event.occurred_at",
    );
    // The one valid visit is the only spend counted.
    let recorded = admin
        .post("/v1/events", visit(&store, "pos-4", "CNY", &now))
        .await
        .ok();
    let customer_id = recorded["customer"]["customerId"].as_str().unwrap();
    let customer = admin
        .get(&format!("/v1/customers/{customer_id}"))
        .await
        .ok();
    assert_eq!(
        customer["customer"]["aggregates"]["spendFen"], "20000",
        "{customer}"
    );
    assert_eq!(
        customer["customer"]["aggregates"]["visits"], "1",
        "{customer}"
    );

    let upsert = |profile: Value, keys: Vec<Value>| json!({"identityKeys": keys, "profile": profile, "requestId": "u1"});
    let phone = || json!({"kind": "IDENTITY_KIND_PHONE", "value": "+8613800138022"});
    assert_refused(
        admin
            .post(
                "/v1/customers",
                upsert(
                    json!({"birthday": {"year": 2999, "month": 1, "day": 1}}),
                    vec![phone()],
                ),
            )
            .await,
        "profile.birthday.year",
    );
    let cards: Vec<Value> = (0..10_000)
        .map(|i| json!({"kind": "IDENTITY_KIND_MEMBER_CARD", "value": format!("card-{i}")}))
        .collect();
    assert_refused(
        admin.post("/v1/customers", upsert(json!({}), cards)).await,
        "identity_keys",
    );
    let habits = vec![Value::from("少辣"); 100_000];
    assert_refused(
        admin
            .post(
                "/v1/customers",
                upsert(json!({"dietaryHabits": habits}), vec![phone()]),
            )
            .await,
        "profile.dietary_habits",
    );
    // None of them made a guest: the chain still has the one from the valid visit.
    let customers = admin.get("/v1/customers").await.ok();
    assert_eq!(
        customers["customers"].as_array().map(Vec::len),
        Some(1),
        "{customers}"
    );

    // A model tag names one of the models; otherwise it would never be applied.
    let model_tag = |model: &str| {
        json!({"tag": {"name": format!("m_{model}"), "category": "TAG_CATEGORY_PREDICTIVE",
            "source": "TAG_SOURCE_MODEL", "model": model}})
    };
    assert_refused(
        admin.post("/v1/tags", model_tag("no_such_model")).await,
        "tag.model",
    );
    admin.post("/v1/tags", model_tag("churn_risk")).await.ok();

    // A recompute rereads the whole chain: it is started only with its idempotency key.
    assert_refused(
        admin.post("/v1/tags:recompute", json!({})).await,
        "request_id",
    );
    admin
        .post("/v1/tags:recompute", json!({"requestId": "r1"}))
        .await
        .ok();
}

maitre_kit::on_both_backends!(wrong_inputs_are_refused_at_their_cause);
