//! Explicit campaign responses (issue 19 item 6), through the gateway: a guest answers a
//! campaign (`CONTACT_KIND_CAMPAIGN_RESPONSE` naming it) without visiting; the campaign's
//! `stats.responded` counts her and tagging's responder model sees the response (the group's
//! response rate), with no later visit needed; and the rule language's interaction fact
//! `campaign_responses(90d)` (seed 002's interaction tags) makes her a member of a rule tag.

use maitre_kit::{
    auth::Role,
    on_both_backends,
    testing::{Backend, token},
};
use maitre_tests::{System, eventually, rest::Rest, setup, sink::Sink};
use serde_json::{Value, json};

const CHAIN: &str = "chain-responses";
const PHONE: &str = "13900139000";

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn a_campaign_response_counts_without_a_visit(backend: Backend) {
    let sink = Sink::start().await;
    let system = System::start_with_notification_settings(backend, &sink.settings()).await;
    let admin = Rest::new(&system.gateway.url, &token(CHAIN, Role::HqAdmin, "hq", &[]));
    let store = setup::store(&admin, "静安店", "JA").await;
    let guest = admin
        .post(
            "/v1/customers",
            json!({"identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": PHONE}],
                   "storeId": store, "requestId": "new-guest",
                   "profile": {"name": "李娜", "gender": "female",
                               "consent": {"marketingOptIn": ["MESSAGE_CHANNEL_SMS"]}}}),
        )
        .await
        .ok()["customer"]["customerId"]
        .as_str()
        .expect("customer id")
        .to_owned();
    let tag = setup::active_manual_tag(&admin, "vip").await;
    eventually(30, || async {
        let added = admin
            .post(
                &format!("/v1/tags/{tag}/members"),
                json!({"customerIds": [guest]}),
            )
            .await;
        (added.status == 200).then_some(())
    })
    .await
    .expect("tagging knows the guest");
    let template = admin
        .post(
            "/v1/templates",
            json!({"template": {"name": "新品", "channel": "MESSAGE_CHANNEL_SMS", "locale": "zh-CN",
                   "body": "新品上市，回复1预约试吃。回T退订", "purpose": "MESSAGE_PURPOSE_MARKETING"}}),
        )
        .await
        .ok()["template"]["templateId"]
        .as_str()
        .expect("template id")
        .to_owned();
    let campaign = admin
        .post(
            "/v1/campaigns",
            json!({"campaign": {"name": "新品", "segment": "has_tag(\"vip\")", "templateId": template}}),
        )
        .await
        .ok()["campaign"]["campaignId"]
        .as_str()
        .expect("campaign id")
        .to_owned();
    let stats = |admin: Rest, campaign: String| async move {
        admin.get(&format!("/v1/campaigns/{campaign}")).await.ok()["campaign"]["stats"].clone()
    };
    let sent = eventually(60, || {
        let (admin, campaign) = (admin.clone(), campaign.clone());
        async move {
            let stats = stats(admin, campaign).await;
            (stats["sent"] == "1").then_some(stats)
        }
    })
    .await;
    assert!(sent.is_some(), "the campaign reaches the guest");
    assert_eq!(sink.received_for(&guest).len(), 1);

    // She answers the campaign in the mini-program; she does not visit.
    admin
        .post(
            "/v1/events",
            json!({"event": {
                "channel": "EVENT_CHANNEL_MINI_PROGRAM", "externalId": "resp-1",
                "kind": "CONTACT_KIND_CAMPAIGN_RESPONSE",
                "identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": PHONE}],
                "storeId": store, "campaignId": campaign, "occurredAt": now(),
            }}),
        )
        .await
        .ok();
    let responded = eventually(30, || {
        let (admin, campaign) = (admin.clone(), campaign.clone());
        async move {
            let stats = stats(admin, campaign).await;
            (stats["responded"] == "1").then_some(stats)
        }
    })
    .await;
    assert!(responded.is_some(), "stats.responded counts the response");

    // Tagging's responder model: the vip group's response rate is the one send, answered.
    let groups = json!({"groups": [{"expression": "has_tag(\"vip\")"}, {"expression": "not has_tag(\"vip\")"}]});
    let rate = eventually(30, || {
        let (admin, groups) = (admin.clone(), groups.clone());
        async move {
            let body: Value = admin.post("/v1/analysis:compareGroups", groups).await.ok();
            let rate = body["groups"][0]["responseRate"].as_f64().unwrap_or(0.0);
            (rate > 0.99).then_some(rate)
        }
    })
    .await;
    assert!(rate.is_some(), "tagging counts the explicit response");

    // An interaction tag over the response: the rule checks, previews and tags her.
    let rule = "campaign_responses(90d) >= 1";
    let checked = admin
        .post("/v1/rules:validate", json!({"rule": rule}))
        .await
        .ok();
    assert_eq!(checked["valid"], true, "{checked}");
    let responder = admin
        .post(
            "/v1/tags",
            json!({"tag": {"name": "campaign_responder", "category": "TAG_CATEGORY_INTERACTION",
                           "source": "TAG_SOURCE_RULE", "rule": rule}}),
        )
        .await
        .ok()["tag"]["tagId"]
        .as_str()
        .expect("tag id")
        .to_owned();
    let preview = admin
        .post("/v1/rules:preview", json!({"rule": rule}))
        .await
        .ok();
    assert_eq!(preview["memberCount"], "1", "{preview}");
    assert_eq!(preview["sampleCustomerIds"], json!([guest]), "{preview}");
    admin
        .post(
            &format!("/v1/tags/{responder}:transition"),
            json!({"lifecycle": "TAG_LIFECYCLE_ACTIVE"}),
        )
        .await
        .ok();
    let tagged = eventually(30, || {
        let (admin, guest) = (admin.clone(), guest.clone());
        async move {
            let tags = admin.get(&format!("/v1/customers/{guest}/tags")).await.ok();
            let names = tags["tags"].to_string();
            names.contains("campaign_responder").then_some(tags)
        }
    })
    .await;
    assert!(
        tagged.is_some(),
        "the response makes her a campaign responder"
    );

    // A replay of the response changes nothing.
    let replay = admin
        .post(
            "/v1/events",
            json!({"event": {
                "channel": "EVENT_CHANNEL_MINI_PROGRAM", "externalId": "resp-1",
                "kind": "CONTACT_KIND_CAMPAIGN_RESPONSE",
                "identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": PHONE}],
                "storeId": store, "campaignId": campaign, "occurredAt": now(),
            }}),
        )
        .await
        .ok();
    assert_eq!(replay["duplicate"], true, "{replay}");
    assert_eq!(
        stats(admin.clone(), campaign.clone()).await["responded"],
        "1"
    );
}

on_both_backends!(a_campaign_response_counts_without_a_visit);
