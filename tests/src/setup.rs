//! The set-up most journeys share, as an HQ admin would do it through the gateway: a store, an
//! SMS service template, an active manual tag. Each panics with the gateway's answer when the
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

fn id(body: serde_json::Value, pointer: &str) -> String {
    body.pointer(pointer)
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("no {pointer} in {body}"))
        .to_owned()
}
