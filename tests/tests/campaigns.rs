//! Campaigns through the gateway (issue 19 item 4): a campaign's segment is checked with tagging
//! when it is created — a saved segment id or an expression, as the field says — and one that
//! resolves to nothing (a bare tag name is not a saved segment) is refused naming the field,
//! before anything is stored.

use maitre_kit::{
    auth::Role,
    on_both_backends,
    testing::{Backend, token},
};
use maitre_tests::{System, rest::Rest, setup};
use serde_json::{Value, json};

const CHAIN: &str = "chain-campaigns";

async fn campaign(admin: &Rest, template_id: &str, segment: &str) -> maitre_tests::rest::Reply {
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    admin
        .post(
            "/v1/campaigns",
            json!({"campaign": {"name": "新品", "segment": segment, "templateId": template_id, "scheduledAt": tomorrow}}),
        )
        .await
}

fn refused_on_segment(reply: &maitre_tests::rest::Reply) -> bool {
    reply.status == 400 && reply.body["field"] == "campaign.segment"
}

async fn campaign_segments_are_checked_at_creation(backend: Backend) {
    let system = System::start(backend).await;
    let admin = Rest::new(&system.gateway.url, &token(CHAIN, Role::HqAdmin, "hq", &[]));
    let template_id = setup::sms_template(&admin, "新品", "新品上市，欢迎光临。回T退订").await;
    // The active tag the segments below name.
    setup::active_manual_tag(&admin, "vip").await;

    // The bare tag name is no saved segment: refused naming the field, with the way to say it.
    let bare = campaign(&admin, &template_id, "vip").await;
    assert!(refused_on_segment(&bare), "{bare:?}");
    assert!(
        bare.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("has_tag(\"vip\")")),
        "{bare:?}"
    );
    let unknown_tag = campaign(&admin, &template_id, "has_tag(\"nobody\")").await;
    assert!(refused_on_segment(&unknown_tag), "{unknown_tag:?}");
    let listed = admin.get("/v1/campaigns").await.ok();
    assert!(
        listed["campaigns"].as_array().is_none_or(Vec::is_empty),
        "nothing stored for refused campaigns: {listed}"
    );

    // An expression, and a saved segment by id, are accepted.
    let by_expression = campaign(&admin, &template_id, "has_tag(\"vip\")")
        .await
        .ok();
    assert_eq!(
        by_expression["campaign"]["state"],
        "CAMPAIGN_STATE_SCHEDULED"
    );
    let segment_id = admin
        .post(
            "/v1/segments",
            json!({"segment": {"name": "贵宾", "expression": "vip"}}),
        )
        .await
        .ok()["segment"]["segmentId"]
        .as_str()
        .expect("segment id")
        .to_owned();
    let saved: Value = campaign(&admin, &template_id, &segment_id).await.ok();
    let campaign_id = saved["campaign"]["campaignId"]
        .as_str()
        .expect("campaign id")
        .to_owned();
    let cancelled = admin
        .post(&format!("/v1/campaigns/{campaign_id}:cancel"), json!({}))
        .await
        .ok();
    assert_eq!(cancelled["campaign"]["state"], "CAMPAIGN_STATE_CANCELLED");
    let listed = admin.get("/v1/campaigns").await.ok();
    assert_eq!(
        listed["campaigns"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
}

on_both_backends!(campaign_segments_are_checked_at_creation);
