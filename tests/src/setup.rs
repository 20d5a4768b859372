//! The set-up most journeys share, as an HQ admin or the front desk would do it through the
//! gateway: a store, a manager, an SMS service template, active manual and rule tags, a guest
//! opted in to marketing SMS, a POS visit. Each panics with the gateway's answer when the
//! step is refused, so a broken set-up never reads as a failed journey.
//!
//! [`Journey`] is the chain most guest journeys walk: the system with its webhook provider
//! posting to a [`Sink`], one store in Asia/Shanghai and manager Wang on duty there.

use maitre_kit::{auth::Role, testing::Backend};
use serde_json::{Value, json};

use crate::rest::Rest;
use crate::sink::Sink;
use crate::{System, eventually};

/// A chain with one store and manager `wang`, its guest messages going to a sink provider.
pub struct Journey {
    pub system: System,
    pub sink: Sink,
    /// An HQ admin of the chain.
    pub admin: Rest,
    pub chain: &'static str,
    pub store: String,
}

/// The statuses a message ends a round in for good (nothing more happens to it by itself).
pub const SETTLED: [&str; 4] = [
    "MESSAGE_STATUS_SENT",
    "MESSAGE_STATUS_DELIVERED",
    "MESSAGE_STATUS_SUPPRESSED",
    "MESSAGE_STATUS_DEAD",
];

impl Journey {
    /// Starts the system on `backend` with the sink, then chain `chain`'s store `store_name`
    /// (code `JA`) and manager Wang (`wang`, 王经理) on duty there.
    pub async fn start(backend: Backend, chain: &'static str, store_name: &str) -> Journey {
        let sink = Sink::start().await;
        let system = System::start_with_notification_settings(backend, &sink.settings()).await;
        let admin = Rest::new(
            &system.gateway.url,
            &maitre_kit::testing::token(chain, Role::HqAdmin, "hq", &[]),
        );
        let store = store(&admin, store_name, "JA").await;
        manager(&admin, "wang", "王经理", &store).await;
        Journey {
            system,
            sink,
            admin,
            chain,
            store,
        }
    }

    /// The API as staff member `staff` of the store with `role`.
    pub fn as_staff(&self, role: Role, staff: &str) -> Rest {
        Rest::new(
            &self.system.gateway.url,
            &maitre_kit::testing::token(self.chain, role, staff, &[&self.store]),
        )
    }

    /// A guest created at the store's front desk, opted in to marketing SMS; her id.
    pub async fn guest(&self, phone: &str, name: &str, gender: &str) -> String {
        guest_born(&self.admin, &self.store, phone, name, gender, Value::Null).await
    }

    /// [`Journey::guest`] with a birthday (`{"year","month","day"}`).
    pub async fn guest_born(
        &self,
        phone: &str,
        name: &str,
        gender: &str,
        birthday: Value,
    ) -> String {
        guest_born(&self.admin, &self.store, phone, name, gender, birthday).await
    }

    /// A POS visit `days_ago` booked with Wang, ordering `dishes` (name, category).
    pub async fn visit(
        &self,
        external_id: &str,
        phone: &str,
        days_ago: i64,
        dishes: &[(&str, &str)],
    ) {
        visit(
            &self.admin,
            &self.store,
            "wang",
            external_id,
            phone,
            days_ago,
            dishes,
        )
        .await;
    }

    /// Installs automation preset `preset`, enabled, issuing `coupon`.
    pub async fn install(&self, preset: &str, coupon: &str) {
        self.admin
            .post(
                &format!("/v1/automation-presets/{preset}:install"),
                json!({"enable": true, "coupon": coupon}),
            )
            .await
            .ok();
    }

    /// The guest's messages (`GET /v1/messages?customerId=`).
    pub async fn messages(&self, customer: &str) -> Vec<Value> {
        self.admin
            .get(&format!("/v1/messages?customerId={customer}"))
            .await
            .ok()["deliveries"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until the guest has messages and every one is [`SETTLED`]; them.
    pub async fn settled_messages(&self, customer: &str) -> Vec<Value> {
        eventually(90, || async {
            let messages = self.messages(customer).await;
            let settled = !messages.is_empty()
                && messages
                    .iter()
                    .all(|m| SETTLED.contains(&m["status"].as_str().unwrap_or_default()));
            settled.then_some(messages)
        })
        .await
        .unwrap_or_else(|| panic!("the guest's messages settle: {customer}"))
    }

    /// Waits for the guest's messages to settle, asserts exactly one was sent and exactly one
    /// delivery reached the provider; what the provider received.
    pub async fn sent_once(&self, customer: &str) -> Value {
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

    /// Adds manual tag `tag_id` to `customer` once tagging has seen her from profile's stream.
    pub async fn add_member(&self, tag_id: &str, customer: &str) {
        add_member(&self.admin, tag_id, customer).await;
    }

    /// Waits until `customer` carries tag `tag_id` (a rule tag tagging evaluated for her).
    pub async fn member_of(&self, tag_id: &str, customer: &str) {
        eventually(90, || async {
            let explained = self
                .admin
                .get(&format!("/v1/customers/{customer}/tags/{tag_id}:explain"))
                .await;
            (explained.status == 200 && explained.body["hasTag"] == true).then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("{customer} gets tag {tag_id}"));
    }

    /// Waits until tagging has counted `visits` visits in 365 days for `customer`, by the
    /// explanation of rule tag `tag_id` (whose rule must read `visits(365d)`), and says whether she
    /// carries the tag then: the proof that a non-member was evaluated on everything she did.
    pub async fn evaluated_with_visits(&self, tag_id: &str, customer: &str, visits: u32) -> bool {
        eventually(90, || async {
            let explained = self
                .admin
                .get(&format!("/v1/customers/{customer}/tags/{tag_id}:explain"))
                .await;
            let counted = explained.body["terms"].as_array().is_some_and(|terms| {
                terms
                    .iter()
                    .any(|t| t["term"] == "visits(365d)" && t["value"] == json!(visits.to_string()))
            });
            (explained.status == 200 && counted).then(|| explained.body["hasTag"] == true)
        })
        .await
        .unwrap_or_else(|| panic!("tagging counts {visits} visits of {customer}"))
    }
}

/// Creates a store in Asia/Shanghai; its id.
pub async fn store(admin: &Rest, name: &str, code: &str) -> String {
    store_in(admin, name, code, "Asia/Shanghai").await
}

/// Creates a store in the time zone `zone`; its id.
pub async fn store_in(admin: &Rest, name: &str, code: &str, zone: &str) -> String {
    let body = json!({"store": {"name": name, "timeZone": zone, "code": code}});
    id(admin.post("/v1/stores", body).await.ok(), "/store/storeId")
}

/// Creates a Chinese SMS service template with `body`; its id.
pub async fn sms_template(admin: &Rest, name: &str, body: &str) -> String {
    template(admin, name, body, "MESSAGE_PURPOSE_SERVICE").await
}

/// Creates a Chinese SMS template with `body` for `purpose` (`MESSAGE_PURPOSE_…`); its id.
pub async fn template(admin: &Rest, name: &str, body: &str, purpose: &str) -> String {
    let template = json!({"template": {"name": name, "channel": "MESSAGE_CHANNEL_SMS",
        "locale": "zh-CN", "body": body, "purpose": purpose}});
    id(
        admin.post("/v1/templates", template).await.ok(),
        "/template/templateId",
    )
}

/// Creates a manual behaviour tag and activates it; its id.
pub async fn active_manual_tag(admin: &Rest, name: &str) -> String {
    active_tag(
        admin,
        json!({"name": name, "category": "TAG_CATEGORY_BEHAVIOUR", "source": "TAG_SOURCE_MANUAL"}),
    )
    .await
}

/// Creates the tag `tag` and activates it; its id.
async fn active_tag(admin: &Rest, tag: Value) -> String {
    let tag_id = id(
        admin.post("/v1/tags", json!({ "tag": tag })).await.ok(),
        "/tag/tagId",
    );
    admin
        .post(
            &format!("/v1/tags/{tag_id}:transition"),
            json!({"lifecycle": "TAG_LIFECYCLE_ACTIVE"}),
        )
        .await
        .ok();
    tag_id
}

/// Creates a guest at the front desk with her profile, opted in to marketing SMS; her id.
pub async fn guest(admin: &Rest, store: &str, phone: &str, name: &str, gender: &str) -> String {
    guest_born(admin, store, phone, name, gender, Value::Null).await
}

/// [`guest`] with a birthday (`{"year","month","day"}`, or null for none).
pub async fn guest_born(
    admin: &Rest,
    store: &str,
    phone: &str,
    name: &str,
    gender: &str,
    birthday: Value,
) -> String {
    let body = json!({"identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": phone}],
        "storeId": store, "requestId": format!("new-{phone}"),
        "profile": {"name": name, "gender": gender, "birthday": birthday,
                    "consent": {"marketingOptIn": ["MESSAGE_CHANNEL_SMS"]}}});
    id(
        admin.post("/v1/customers", body).await.ok(),
        "/customer/customerId",
    )
}

/// A POS visit `days_ago` at `store`, booked with `manager`, ordering `dishes` (name, category).
pub async fn visit(
    admin: &Rest,
    store: &str,
    manager: &str,
    external_id: &str,
    phone: &str,
    days_ago: i64,
    dishes: &[(&str, &str)],
) {
    let at = chrono::Utc::now() - chrono::Duration::days(days_ago);
    let lines: Vec<serde_json::Value> = dishes
        .iter()
        .map(|(dish, category)| {
            json!({"dishName": dish, "category": category, "quantity": 1, "amountFen": "3800"})
        })
        .collect();
    let event = json!({"event": {
        "channel": "EVENT_CHANNEL_POS", "externalId": external_id, "kind": "CONTACT_KIND_VISIT",
        "identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": phone}],
        "storeId": store, "managerId": manager,
        "amount": {"amountFen": "20000", "currency": "CNY"},
        "occurredAt": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "partySize": 2, "lines": lines}});
    admin.post("/v1/events", event).await.ok();
}

/// Adds manual tag `tag_id` to `customer`, retrying until tagging has seen her from profile's
/// stream (until then the call is refused as about an unknown guest).
pub async fn add_member(admin: &Rest, tag_id: &str, customer: &str) {
    eventually(30, || async {
        let added = admin
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

/// Creates a rule tag and activates it; its id.
pub async fn active_rule_tag(admin: &Rest, name: &str, rule: &str) -> String {
    active_tag(
        admin,
        json!({"name": name, "category": "TAG_CATEGORY_BEHAVIOUR", "source": "TAG_SOURCE_RULE",
               "rule": rule}),
    )
    .await
}

/// Puts manager `manager_id` on duty at `store`.
pub async fn manager(admin: &Rest, manager_id: &str, name: &str, store: &str) {
    admin
        .put(
            &format!("/v1/managers/{manager_id}"),
            json!({"manager": {"managerId": manager_id, "name": name, "storeIds": [store],
                   "capacity": "100", "status": "MANAGER_STATUS_ON_DUTY"}}),
        )
        .await
        .ok();
}

fn id(body: serde_json::Value, pointer: &str) -> String {
    body.pointer(pointer)
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("no {pointer} in {body}"))
        .to_owned()
}
