//! Manager scope through the gateway (issue 20 item 10; ARCHITECTURE "Domain": a customer
//! manager acts on their own customers and reads their store, a store manager acts on their
//! stores). A customer manager may not change or message another manager's guest; a store
//! manager's segment members, counts and tag member lists hold only guests of their stores.

use chrono::{SecondsFormat, Utc};
use maitre_kit::{
    auth::Role,
    on_both_backends,
    testing::{Backend, token},
};
use maitre_tests::{System, eventually, rest::Rest};
use serde_json::{Value, json};

const CHAIN: &str = "chain-scope";

struct Chain {
    system: System,
    admin: Rest,
    s1: String,
    s2: String,
}

impl Chain {
    async fn start(backend: Backend) -> Chain {
        let system = System::start(backend).await;
        let admin = Rest::new(&system.gateway.url, &token(CHAIN, Role::HqAdmin, "hq", &[]));
        let s1 = store(&admin, "S1").await;
        let s2 = store(&admin, "S2").await;
        for (id, store) in [("wang", &s1), ("li", &s1), ("zhao", &s2)] {
            admin
                .put(
                    &format!("/v1/managers/{id}"),
                    json!({"manager": {"managerId": id, "name": id, "storeIds": [store], "capacity": "100", "status": "MANAGER_STATUS_ON_DUTY"}}),
                )
                .await
                .ok();
        }
        Chain {
            system,
            admin,
            s1,
            s2,
        }
    }

    fn staff(&self, role: Role, staff: &str, stores: &[&str]) -> Rest {
        Rest::new(&self.system.gateway.url, &token(CHAIN, role, staff, stores))
    }

    /// A booking through `manager` at `store`; the guest's id once their owner is `manager`.
    async fn guest(&self, phone: &str, store: &str, manager: &str) -> String {
        let reply = self
            .admin
            .post(
                "/v1/events",
                json!({"event": {
                    "channel": "EVENT_CHANNEL_PHONE", "externalId": format!("book-{phone}"),
                    "kind": "CONTACT_KIND_BOOKING",
                    "identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": phone}],
                    "storeId": store, "managerId": manager,
                    "occurredAt": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true), "partySize": 2,
                }}),
            )
            .await
            .ok();
        assert_eq!(reply["owner"]["managerId"], manager, "{reply}");
        reply["customer"]["customerId"]
            .as_str()
            .expect("customer id")
            .to_owned()
    }
}

async fn store(admin: &Rest, code: &str) -> String {
    maitre_tests::setup::store(admin, &format!("store {code}"), code).await
}

fn rename(customer: &str, name: &str) -> Value {
    json!({"customer": {"customerId": customer, "profile": {"name": name}}, "updateMask": "profile.name"})
}

fn ids(body: &Value) -> Vec<String> {
    let mut ids: Vec<String> = body["customerIds"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

async fn a_customer_manager_writes_only_to_own_guests(backend: Backend) {
    let c = Chain::start(backend).await;
    let mine = c.guest("13800138001", &c.s1, "wang").await;
    let theirs = c.guest("13800138002", &c.s1, "li").await;
    let wang = c.staff(Role::CustomerManager, "wang", &[&c.s1]);

    // His own guest he may rename; Li's guest at his store he may read but not change.
    wang.patch(&format!("/v1/customers/{mine}"), rename(&mine, "王女士"))
        .await
        .ok();
    assert_eq!(
        wang.get(&format!("/v1/customers/{theirs}")).await.status,
        200
    );
    let refused = wang
        .patch(
            &format!("/v1/customers/{theirs}"),
            rename(&theirs, "hijacked"),
        )
        .await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(
        refused.body["message"].is_string(),
        "JSON body: {refused:?}"
    );
    let unchanged = c.admin.get(&format!("/v1/customers/{theirs}")).await.ok();
    assert_ne!(unchanged["customer"]["profile"]["name"], "hijacked");
    // Li's follow-up plans are Li's to make.
    let plan = wang
        .post(
            "/v1/follow-up-plans",
            json!({"plan": {"customerId": theirs, "title": "回访", "dueAt": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)}}),
        )
        .await;
    assert_eq!(plan.status, 403, "{plan:?}");

    // Messages: to his own guest (once notification knows she is his), never to Li's.
    let template = c
        .admin
        .post(
            "/v1/templates",
            json!({"template": {"name": "问候", "channel": "MESSAGE_CHANNEL_SMS", "locale": "zh-CN",
                   "body": "您好，期待您再次光临", "purpose": "MESSAGE_PURPOSE_SERVICE"}}),
        )
        .await
        .ok()["template"]["templateId"]
        .as_str()
        .expect("template id")
        .to_owned();
    let message = |customer: &str, request: &str| {
        json!({"customerId": customer, "channel": "MESSAGE_CHANNEL_SMS",
               "templateId": template, "requestId": request})
    };
    let sent = eventually(30, || {
        let wang = wang.clone();
        let body = message(&mine, "wang-to-mine");
        async move {
            let reply = wang.post("/v1/messages", body).await;
            (reply.status == 200).then_some(reply)
        }
    })
    .await;
    assert!(sent.is_some(), "Wang messages his own guest");
    // Li's guest is known to notification with Li as owner before Wang is refused.
    let li = c.staff(Role::CustomerManager, "li", &[&c.s1]);
    let li_sent = eventually(30, || {
        let li = li.clone();
        let body = message(&theirs, "li-to-hers");
        async move {
            let reply = li.post("/v1/messages", body).await;
            (reply.status == 200).then_some(reply)
        }
    })
    .await;
    assert!(li_sent.is_some(), "Li messages her own guest");
    let refused = wang
        .post("/v1/messages", message(&theirs, "wang-to-theirs"))
        .await;
    assert_eq!(refused.status, 403, "{refused:?}");
    let listed = c
        .admin
        .get(&format!("/v1/messages?customerId={theirs}"))
        .await
        .ok();
    assert_eq!(
        listed["deliveries"].as_array().map(Vec::len),
        Some(1),
        "only Li's message: {listed}"
    );
    // Nor may he change her preferences.
    let prefs = wang
        .patch(
            &format!("/v1/customers/{theirs}/preferences"),
            json!({"preferences": {"customerId": theirs, "marketingOptIn": ["MESSAGE_CHANNEL_SMS"]}, "updateMask": "marketingOptIn"}),
        )
        .await;
    assert_eq!(prefs.status, 403, "{prefs:?}");
}

async fn a_store_manager_sees_only_members_of_their_stores(backend: Backend) {
    let c = Chain::start(backend).await;
    let a = c.guest("13800138011", &c.s1, "wang").await;
    let b = c.guest("13800138012", &c.s1, "li").await;
    let other = c.guest("13800138013", &c.s2, "zhao").await;
    let tag = c
        .admin
        .post("/v1/tags", json!({"tag": {"name": "likes_dessert", "category": "TAG_CATEGORY_BEHAVIOUR", "source": "TAG_SOURCE_MANUAL"}}))
        .await
        .ok()["tag"]["tagId"]
        .as_str()
        .expect("tag id")
        .to_owned();
    c.admin
        .post(
            &format!("/v1/tags/{tag}:transition"),
            json!({"lifecycle": "TAG_LIFECYCLE_ACTIVE"}),
        )
        .await
        .ok();
    let segment = json!({"segment": {"expression": "likes_dessert or not likes_dessert"}});
    // Tagging has seen all three guests once the chain-wide answer holds them.
    let mut all = vec![a.clone(), b.clone(), other.clone()];
    all.sort();
    let everyone = eventually(30, || {
        let admin = c.admin.clone();
        let segment = segment.clone();
        let all = all.clone();
        async move {
            let body = admin.post("/v1/segments:members", segment).await.ok();
            (ids(&body) == all).then_some(())
        }
    })
    .await;
    assert!(everyone.is_some(), "hq sees every guest of the chain");
    c.admin
        .post(
            &format!("/v1/tags/{tag}/members"),
            json!({"customerIds": all}),
        )
        .await
        .ok();

    let mut at_s1 = vec![a.clone(), b.clone()];
    at_s1.sort();
    for (role, staff) in [(Role::StoreManager, "sm1"), (Role::CustomerManager, "wang")] {
        let caller = c.staff(role, staff, &[&c.s1]);
        let members = caller
            .post("/v1/segments:members", segment.clone())
            .await
            .ok();
        assert_eq!(ids(&members), at_s1, "{role:?}: {members}");
        assert_eq!(members["total"], "2", "{members}");
        let count = caller
            .post("/v1/segments:count", segment.clone())
            .await
            .ok();
        assert_eq!(count["count"], "2", "{role:?}: {count}");
        let tagged = caller.get(&format!("/v1/tags/{tag}/members")).await.ok();
        assert_eq!(ids(&tagged), at_s1, "{role:?}: {tagged}");
    }
    let s2 = c.staff(Role::StoreManager, "sm2", &[&c.s2]);
    let members = s2.post("/v1/segments:members", segment).await.ok();
    assert_eq!(ids(&members), vec![other], "{members}");
}

on_both_backends!(
    a_customer_manager_writes_only_to_own_guests,
    a_store_manager_sees_only_members_of_their_stores
);
