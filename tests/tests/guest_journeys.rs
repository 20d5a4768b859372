//! Guest journeys of seeds 000 and 002, through the gateway as the apps drive them, to a sink
//! provider that records what a real SMS provider receives (notification's webhook provider,
//! configured as an operator would): the birthday greeting with the dessert coupon and the
//! owner's reminder, the 60-day win-back sent once, and an opt-out by reply ("退订") seen in the
//! profile and honoured by every later marketing send. What profile knows (name, gender,
//! birthday, consent given at creation, favourite dishes, the store's name) must reach the words
//! the guest reads.

use chrono::Datelike;
use maitre_kit::{
    auth::Role,
    on_both_backends,
    testing::{Backend, token},
};
use maitre_tests::{
    System, eventually,
    rest::{Reply, Rest},
    sink::Sink,
};
use serde_json::{Value, json};

const CHAIN: &str = "chain-journeys";
const STORE_NAME: &str = "海港酒家静安店";

struct Journey {
    _system: System,
    sink: Sink,
    admin: Rest,
    gateway: String,
    store: String,
}

impl Journey {
    /// The system with its webhook provider posting to a sink; one store, manager Wang.
    async fn start(backend: Backend) -> Journey {
        let sink = Sink::start().await;
        let settings = sink.settings();
        let system = System::start_with_notification_settings(backend, &settings).await;
        let gateway = system.gateway.url.clone();
        let admin = Rest::new(&gateway, &token(CHAIN, Role::HqAdmin, "hq", &[]));
        let store = admin
            .post(
                "/v1/stores",
                json!({"store": {"name": STORE_NAME, "timeZone": "Asia/Shanghai", "code": "JA"}}),
            )
            .await
            .ok()["store"]["storeId"]
            .as_str()
            .expect("store id")
            .to_owned();
        admin
            .put(
                "/v1/managers/wang",
                json!({"manager": {"managerId": "wang", "name": "王经理", "storeIds": [store],
                       "capacity": "100", "status": "MANAGER_STATUS_ON_DUTY"}}),
            )
            .await
            .ok();
        Journey {
            _system: system,
            sink,
            admin,
            gateway,
            store,
        }
    }

    fn as_staff(&self, role: Role, staff: &str) -> Rest {
        Rest::new(&self.gateway, &token(CHAIN, role, staff, &[&self.store]))
    }

    /// Creates a guest at the front desk with her profile (`POST /v1/customers`), opted in to
    /// marketing SMS there; returns her id.
    async fn new_guest(&self, phone: &str, name: &str, gender: &str, birthday: Value) -> String {
        self.admin
            .post(
                "/v1/customers",
                json!({"identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": phone}],
                       "storeId": self.store, "requestId": format!("new-{phone}"),
                       "profile": {"name": name, "gender": gender, "birthday": birthday,
                                   "consent": {"marketingOptIn": ["MESSAGE_CHANNEL_SMS"]}}}),
            )
            .await
            .ok()["customer"]["customerId"]
            .as_str()
            .expect("customer id")
            .to_owned()
    }

    /// A visit through Wang `days_ago`, ordering `dishes` (name, category).
    async fn visit(&self, external_id: &str, phone: &str, days_ago: i64, dishes: &[(&str, &str)]) {
        let at = chrono::Utc::now() - chrono::Duration::days(days_ago);
        let lines: Vec<Value> = dishes
            .iter()
            .map(|(dish, category)| {
                json!({"dishName": dish, "category": category, "quantity": 1, "amountFen": "3800"})
            })
            .collect();
        self.admin
            .post(
                "/v1/events",
                json!({"event": {
                    "channel": "EVENT_CHANNEL_POS", "externalId": external_id,
                    "kind": "CONTACT_KIND_VISIT",
                    "identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": phone}],
                    "storeId": self.store, "managerId": "wang",
                    "amount": {"amountFen": "20000", "currency": "CNY"},
                    "occurredAt": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    "partySize": 2, "lines": lines,
                }}),
            )
            .await
            .ok();
    }

    /// Installs a preset, enabled, issuing `coupon`.
    async fn install(&self, preset: &str, coupon: &str) {
        self.admin
            .post(
                &format!("/v1/automation-presets/{preset}:install"),
                json!({"enable": true, "coupon": coupon}),
            )
            .await
            .ok();
    }

    /// An active tag `name` (a rule tag when `rule` is given, else manual); returns its id.
    async fn tag(&self, name: &str, rule: Option<&str>) -> String {
        let tag = match rule {
            Some(rule) => json!({"tag": {"name": name, "category": "TAG_CATEGORY_BEHAVIOUR",
                                         "source": "TAG_SOURCE_RULE", "rule": rule}}),
            None => json!({"tag": {"name": name, "category": "TAG_CATEGORY_BEHAVIOUR",
                                   "source": "TAG_SOURCE_MANUAL"}}),
        };
        let id = self.admin.post("/v1/tags", tag).await.ok()["tag"]["tagId"]
            .as_str()
            .expect("tag id")
            .to_owned();
        self.admin
            .post(
                &format!("/v1/tags/{id}:transition"),
                json!({"lifecycle": "TAG_LIFECYCLE_ACTIVE"}),
            )
            .await
            .ok();
        id
    }

    /// Adds manual tag `tag_id` to `customer` once tagging has seen her from profile's stream.
    async fn add_member(&self, tag_id: &str, customer: &str) {
        eventually(30, || async {
            let added = self
                .admin
                .post(
                    &format!("/v1/tags/{tag_id}/members"),
                    json!({"customerIds": [customer]}),
                )
                .await;
            (added.status == 200).then_some(())
        })
        .await
        .expect("tagging knows the guest");
    }

    /// What `POST /v1/templates:preview` renders of `body` for `customer`.
    async fn preview(&self, body: &str, customer: &str) -> Reply {
        self.admin
            .post(
                "/v1/templates:preview",
                json!({"body": body, "customerId": customer}),
            )
            .await
    }

    /// The guest's messages through the API.
    async fn messages(&self, customer: &str) -> Vec<Value> {
        self.admin
            .get(&format!("/v1/messages?customerId={customer}"))
            .await
            .ok()["deliveries"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits for the guest's messages to settle, asserts exactly one was sent and exactly one
    /// delivery reached the provider, and returns what the provider received.
    async fn sent_once(&self, customer: &str) -> Value {
        let messages = self.settled_messages(customer).await;
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert_eq!(messages[0]["status"], "MESSAGE_STATUS_SENT", "{messages:?}");
        let received = self.sink.received_for(customer);
        assert_eq!(
            received.len(),
            1,
            "one delivery at the provider: {received:?}"
        );
        received.into_iter().next().expect("one delivery")
    }

    /// Waits until every message of the guest is settled (sent, delivered or suppressed) and
    /// there is at least one; returns them.
    async fn settled_messages(&self, customer: &str) -> Vec<Value> {
        eventually(60, || async {
            let messages = self.messages(customer).await;
            let settled = !messages.is_empty()
                && messages.iter().all(|m| {
                    matches!(
                        m["status"].as_str(),
                        Some(
                            "MESSAGE_STATUS_SENT"
                                | "MESSAGE_STATUS_DELIVERED"
                                | "MESSAGE_STATUS_SUPPRESSED"
                                | "MESSAGE_STATUS_DEAD"
                        )
                    )
                });
            settled.then_some(messages)
        })
        .await
        .unwrap_or_else(|| panic!("the guest's messages settle: {customer}"))
    }
}

/// Today in Shanghai, where the store is.
fn store_today() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

fn birthday(date: chrono::NaiveDate) -> Value {
    json!({"year": 1990, "month": date.month(), "day": date.day()})
}

/// Seed 002 §3 and seed 000 §三: a dessert lover is greeted on her birthday with the dessert
/// coupon, by her salutation and in the store's name; her manager is reminded three days ahead,
/// with her name and favourite dish.
async fn birthday_greeting_and_owner_reminder(backend: Backend) {
    let j = Journey::start(backend).await;
    j.install("birthday_dessert_greeting", "DESSERT-2026").await;
    j.install("birthday_owner_reminder", "DESSERT-2026").await;
    let likes_dessert = j.tag("likes_dessert", None).await;
    // Ms Li's birthday is today; Ms Wang's is in three days. Both love desserts.
    let li = j
        .new_guest("13800138001", "李娜", "female", birthday(store_today()))
        .await;
    let in_three_days = store_today() + chrono::Duration::days(3);
    let wang_fang = j
        .new_guest("13800138002", "王芳", "female", birthday(in_three_days))
        .await;
    for (phone, visits) in [("13800138001", 2), ("13800138002", 2)] {
        for i in 0..visits {
            j.visit(
                &format!("pos-{phone}-{i}"),
                phone,
                3 + i,
                &[("杨枝甘露", "甜品"), ("清蒸石斑", "海鲜")],
            )
            .await;
        }
    }
    // The favourite reaches notification from profile's stream: a preview for the guest
    // renders her own values, not samples.
    let preview = eventually(30, || async {
        let reply = j
            .preview(
                "{{customer.salutation}}最爱{{customer.favourite_dish}}",
                &wang_fang,
            )
            .await;
        let body = reply.body["body"].as_str().unwrap_or_default().to_owned();
        (reply.status == 200 && body.contains("杨枝甘露")).then_some(body)
    })
    .await
    .expect("the preview renders the guest's favourite");
    assert_eq!(preview, "王女士最爱杨枝甘露");
    for guest in [&li, &wang_fang] {
        j.add_member(&likes_dessert, guest).await;
    }

    // Ms Li receives the greeting once: her salutation, the store's name, the coupon.
    let received = j.sent_once(&li).await;
    let text = received["body"].as_str().expect("body");
    assert!(
        text.starts_with("李女士，海港酒家静安店祝您生日快乐！"),
        "{text}"
    );
    assert!(text.contains("券码DESSERT-2026"), "{text}");
    assert_eq!(received["channel"], "sms", "{received}");

    // Wang is reminded of Ms Wang by name, with her favourite dish.
    let wang = j.as_staff(Role::CustomerManager, "wang");
    let item = eventually(30, || async {
        let inbox = wang.get("/v1/inbox").await.ok();
        inbox["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|i| i["customerId"] == wang_fang.as_str())
                .cloned()
        })
    })
    .await
    .expect("the birthday reminder reaches Wang's inbox");
    assert_eq!(item["title"], "王女士3天后生日", "{item}");
    let body = item["body"].as_str().unwrap_or_default();
    assert!(body.contains("最爱杨枝甘露"), "{item}");
    assert!(!body.contains(&wang_fang), "no raw id: {item}");

    // Wang then writes to her himself with a template naming her (no default): the send
    // needs no variables from him, and she reads her own salutation and her store's name.
    let template = j
        .admin
        .post(
            "/v1/templates",
            json!({"template": {"name": "问候", "channel": "MESSAGE_CHANNEL_SMS", "locale": "zh-CN",
                   "body": "{{customer.salutation}}您好，{{store.name}}期待您再次光临",
                   "purpose": "MESSAGE_PURPOSE_SERVICE"}}),
        )
        .await
        .ok()["template"]["templateId"]
        .as_str()
        .expect("template id")
        .to_owned();
    wang.post(
        "/v1/messages",
        json!({"customerId": wang_fang, "channel": "MESSAGE_CHANNEL_SMS",
               "templateId": template, "requestId": "wang-greets-wang-fang"}),
    )
    .await
    .ok();
    let received = j.sent_once(&wang_fang).await;
    assert_eq!(received["body"], "王女士您好，海港酒家静安店期待您再次光临");
}

/// Seed 002 §4: a guest not seen for 60 days gets the "老朋友专属" coupon, once, naming her store;
/// her manager's inbox says it is queued, not that it was sent.
async fn win_back_sent_once(backend: Backend) {
    let j = Journey::start(backend).await;
    j.install("winback_60d", "WELCOMEBACK").await;
    j.tag("lapsed_60d", Some("days_since_last_visit >= 60"))
        .await;
    let guest = j
        .new_guest("13600136000", "张伟", "male", Value::Null)
        .await;
    j.visit("pos-lapsed", "13600136000", 61, &[("清蒸石斑", "海鲜")])
        .await;

    let received = j.sent_once(&guest).await;
    let text = received["body"].as_str().expect("body");
    assert!(
        text.starts_with("张先生，好久不见！海港酒家静安店为您准备了老朋友专属优惠券"),
        "{text}"
    );
    assert!(text.contains("券码WELCOMEBACK"), "{text}");

    let wang = j.as_staff(Role::CustomerManager, "wang");
    let item = eventually(30, || async {
        let inbox = wang.get("/v1/inbox").await.ok();
        inbox["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|i| i["customerId"] == guest.as_str())
                .cloned()
        })
    })
    .await
    .expect("the win-back reminder reaches Wang's inbox");
    assert_eq!(item["title"], "张先生已60天未到店", "{item}");
    assert!(
        !item["body"].as_str().unwrap_or_default().contains("已发送"),
        "the reminder does not claim a send: {item}"
    );
}

/// An unsubscribe reply ("退订") shows in the guest's profile, and the next marketing message to
/// her is suppressed: nothing reaches the provider.
async fn opt_out_by_reply(backend: Backend) {
    let j = Journey::start(backend).await;
    j.install("winback_60d", "WELCOMEBACK").await;
    j.tag("lapsed_60d", Some("days_since_last_visit >= 60"))
        .await;
    let guest = j
        .new_guest("13500135000", "赵敏", "female", Value::Null)
        .await;
    // Opted in at creation: the profile says so.
    let profile = j.admin.get(&format!("/v1/customers/{guest}")).await.ok();
    assert_eq!(
        profile["customer"]["profile"]["consent"]["marketingOptIn"],
        json!(["MESSAGE_CHANNEL_SMS"]),
        "{profile}"
    );
    let reply = j
        .admin
        .post(
            "/v1/inbound-replies",
            json!({"channel": "MESSAGE_CHANNEL_SMS", "customerId": guest, "text": "退订"}),
        )
        .await
        .ok();
    assert_eq!(reply["unsubscribed"], true, "{reply}");
    // The profile shows the opt-out, from notification's stream.
    let consent = eventually(30, || async {
        let customer = j.admin.get(&format!("/v1/customers/{guest}")).await.ok();
        let consent = customer["customer"]["profile"]["consent"].clone();
        (consent["optedOut"] == json!(["MESSAGE_CHANNEL_SMS"])).then_some(consent)
    })
    .await
    .expect("the opt-out shows in the profile");
    assert!(
        consent["marketingOptIn"]
            .as_array()
            .is_none_or(|channels| channels.is_empty()),
        "{consent}"
    );
    // Notification holds the same choice.
    let preferences = j
        .admin
        .get(&format!("/v1/customers/{guest}/preferences"))
        .await
        .ok();
    assert_eq!(
        preferences["preferences"]["optedOut"],
        json!(["MESSAGE_CHANNEL_SMS"]),
        "{preferences}"
    );
    // She then lapses: the win-back is suppressed, and nothing reaches the provider.
    j.visit("pos-optout", "13500135000", 61, &[("清蒸石斑", "海鲜")])
        .await;
    let messages = j.settled_messages(&guest).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(
        messages[0]["status"], "MESSAGE_STATUS_SUPPRESSED",
        "{messages:?}"
    );
    let reason = messages[0]["history"]
        .as_array()
        .and_then(|h| h.last())
        .map(|h| h["reason"].clone())
        .unwrap_or_default();
    assert_eq!(reason, "opted_out", "{messages:?}");
    assert!(j.sink.received_for(&guest).is_empty());
}

/// What the front desk gives when creating a guest (birthday, gender, name, consent) reaches
/// notification at once, with no later edit or visit: her birthday greeting goes out today.
async fn profile_given_at_creation_reaches_notification(backend: Backend) {
    let j = Journey::start(backend).await;
    j.install("birthday_dessert_greeting", "DESSERT-2026").await;
    let likes_dessert = j.tag("likes_dessert", None).await;
    let guest = j
        .new_guest("13700137000", "周慧", "female", birthday(store_today()))
        .await;
    j.add_member(&likes_dessert, &guest).await;
    let received = j.sent_once(&guest).await;
    let text = received["body"].as_str().expect("body");
    assert!(
        text.starts_with("周女士，海港酒家静安店祝您生日快乐！"),
        "{text}"
    );
}

on_both_backends!(
    profile_given_at_creation_reaches_notification,
    birthday_greeting_and_owner_reminder,
    win_back_sent_once,
    opt_out_by_reply
);
