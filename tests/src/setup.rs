//! The set-up most journeys share, as an HQ admin or the front desk would do it through the
//! gateway: a store, a manager, an SMS service template, active manual and rule tags, a guest
//! opted in to marketing SMS, a POS visit. Each panics with the gateway's answer when the
//! step is refused, so a broken set-up never reads as a failed journey.

use serde_json::json;

use crate::rest::Rest;

/// Creates a store in Asia/Shanghai; its id.
pub async fn store(admin: &Rest, name: &str, code: &str) -> String {
    let body = json!({"store": {"name": name, "timeZone": "Asia/Shanghai", "code": code}});
    id(admin.post("/v1/stores", body).await.ok(), "/store/storeId")
}

/// Creates a Chinese SMS service template with `body`; its id.
pub async fn sms_template(admin: &Rest, name: &str, body: &str) -> String {
    let template = json!({"template": {"name": name, "channel": "MESSAGE_CHANNEL_SMS",
        "locale": "zh-CN", "body": body, "purpose": "MESSAGE_PURPOSE_SERVICE"}});
    id(
        admin.post("/v1/templates", template).await.ok(),
        "/template/templateId",
    )
}

/// Creates a manual behaviour tag and activates it; its id.
pub async fn active_manual_tag(admin: &Rest, name: &str) -> String {
    let tag = json!({"tag": {"name": name, "category": "TAG_CATEGORY_BEHAVIOUR",
        "source": "TAG_SOURCE_MANUAL"}});
    let tag_id = id(admin.post("/v1/tags", tag).await.ok(), "/tag/tagId");
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
    let body = json!({"identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": phone}],
        "storeId": store, "requestId": format!("new-{phone}"),
        "profile": {"name": name, "gender": gender,
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

/// Creates a rule tag and activates it; its id.
pub async fn active_rule_tag(admin: &Rest, name: &str, rule: &str) -> String {
    let tag = json!({"tag": {"name": name, "category": "TAG_CATEGORY_BEHAVIOUR",
        "source": "TAG_SOURCE_RULE", "rule": rule}});
    let tag_id = id(admin.post("/v1/tags", tag).await.ok(), "/tag/tagId");
    admin
        .post(
            &format!("/v1/tags/{tag_id}:transition"),
            json!({"lifecycle": "TAG_LIFECYCLE_ACTIVE"}),
        )
        .await
        .ok();
    tag_id
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
