//! NUL characters in request text: every service refuses them the same way on both
//! backends (PostgreSQL cannot store U+0000; SQLite would), naming the field and changing
//! nothing, through the gateway and for direct gRPC callers alike.

use maitre_kit::{
    auth::Role,
    client::outgoing,
    testing::{Backend, token},
};
use maitre_proto::profile::v1::{
    CreateStoreRequest, Store, profile_service_client::ProfileServiceClient,
};
use maitre_tests::{System, rest::Rest};
use serde_json::{Value, json};

#[track_caller]
fn assert_refused(reply: maitre_tests::rest::Reply, field: &str) {
    assert_eq!(reply.status, 400, "{field}: {}", reply.body);
    assert_eq!(reply.body["code"], "INVALID_ARGUMENT", "{}", reply.body);
    assert_eq!(reply.body["field"], field, "{}", reply.body);
}

async fn nul_characters_are_refused_naming_the_field(backend: Backend) {
    let system = System::start(backend).await;
    let hq = token("chain-nul", Role::HqAdmin, "hq-1", &[]);
    let admin = Rest::new(&system.gateway.url, &hq);

    let store = |name: &str| json!({"store": {"name": name, "timeZone": "Asia/Shanghai"}});
    assert_refused(
        admin.post("/v1/stores", store("Main\0street")).await,
        "store.name",
    );
    let store_id = admin.post("/v1/stores", store("Main street")).await.ok()["store"]["storeId"]
        .as_str()
        .unwrap()
        .to_owned();

    let manager = |id: &str| {
        json!({"manager": {"managerId": id, "name": "王经理", "storeIds": [store_id],
            "capacity": "10", "status": "MANAGER_STATUS_ON_DUTY"}})
    };
    // The id comes from the path (percent-encoded NUL).
    assert_refused(
        admin.put("/v1/managers/wang%00x", manager("wang")).await,
        "manager.manager_id",
    );

    let event = json!({"event": {"channel": "EVENT_CHANNEL_POS", "externalId": "pos\0-1",
        "kind": "CONTACT_KIND_VISIT", "storeId": store_id,
        "identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": "+8613800138000"}],
        "occurredAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}});
    assert_refused(admin.post("/v1/events", event).await, "event.external_id");

    let template = |name: &str, body: &str| {
        json!({"template": {"name": name, "channel": "MESSAGE_CHANNEL_SMS", "locale": "zh-CN",
            "body": body, "purpose": "MESSAGE_PURPOSE_SERVICE"}})
    };
    assert_refused(
        admin
            .post("/v1/templates", template("he\0llo", "您好"))
            .await,
        "template.name",
    );
    assert_refused(
        admin
            .post("/v1/templates", template("hello", "您好\0"))
            .await,
        "template.body",
    );

    // Nothing was stored.
    let stores: Value = admin.get("/v1/stores").await.ok();
    assert_eq!(
        stores["stores"].as_array().map(Vec::len),
        Some(1),
        "{stores}"
    );
    let templates: Value = admin.get("/v1/templates").await.ok();
    assert!(
        templates["templates"].as_array().is_none_or(Vec::is_empty),
        "{templates}"
    );

    // A direct gRPC caller meets the same refusal at the service.
    let mut profile = ProfileServiceClient::connect(system.profile.url.clone())
        .await
        .unwrap();
    let refused = profile
        .create_store(outgoing(
            CreateStoreRequest {
                store: Some(Store {
                    name: "\0".into(),
                    ..Default::default()
                }),
                request_id: "r-nul".into(),
            },
            &hq,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        maitre_kit::error::field_of(&refused).as_deref(),
        Some("store.name")
    );
}

maitre_kit::on_both_backends!(nul_characters_are_refused_naming_the_field);
