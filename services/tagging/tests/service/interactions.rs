//! Interaction facts (seed 002 interaction tags, issue 19 item 6): campaign responses from
//! profile's explicit `CAMPAIGN_RESPONSE` contacts and notification's RESPONDED messages (one
//! per campaign, whichever route tells first), replies to messages and reviews, counted over a
//! window by `campaign_responses(90d)`, `messages_replied(W)` and `reviews(W)`.

use std::time::Duration;

use maitre_kit::{on_both_backends, testing::Backend};
use maitre_proto::{
    events::v1::{
        ContactKind, ContactRecorded, MessageStatus, MessageStatusChanged, event::Payload,
    },
    tagging::v1::{PreviewRuleRequest, TagSource, ValidateRuleRequest},
};

use crate::common::{Harness, admin, start, today};

fn contact(customer: &str, kind: ContactKind, campaign: &str, days_ago: u64) -> Payload {
    let date = chrono::NaiveDate::parse_from_str(&today(), "%Y-%m-%d").expect("today")
        - chrono::Days::new(days_ago);
    Payload::ContactRecorded(ContactRecorded {
        event_id: uuid::Uuid::new_v4().to_string(),
        customer_id: customer.into(),
        kind: kind as i32,
        store_id: "store-1".into(),
        campaign_id: campaign.into(),
        rating: 5,
        local_date: date.format("%Y-%m-%d").to_string(),
        ..Default::default()
    })
}

fn responded(customer: &str, message: &str, campaign: &str, reason: &str) -> Payload {
    Payload::MessageStatusChanged(MessageStatusChanged {
        message_id: message.into(),
        customer_id: customer.into(),
        campaign_id: campaign.into(),
        status: MessageStatus::Responded as i32,
        reason: reason.into(),
        ..Default::default()
    })
}

async fn preview_count(h: &mut Harness, chain: &str, rule: &str) -> i64 {
    h.client
        .preview_rule(admin(
            chain,
            PreviewRuleRequest {
                rule: rule.into(),
                sample_size: 10,
            },
        ))
        .await
        .unwrap_or_else(|e| panic!("preview {rule}: {e}"))
        .into_inner()
        .member_count
}

/// Waits until the tag's members are `expected`.
async fn members_become(h: &mut Harness, chain: &str, tag_id: &str, expected: &[&str]) {
    let mut members = Vec::new();
    for _ in 0..400 {
        members = h.members(chain, tag_id).await;
        if members == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("members of {tag_id}: {members:?}, expected {expected:?}");
}

async fn interaction_rules_follow_both_streams(backend: Backend) {
    let mut h = start(backend).await;
    let chain = "chain-1";
    let checked = h
        .client
        .validate_rule(admin(
            chain,
            ValidateRuleRequest {
                rule:
                    "campaign_responses(90d) >= 1 or messages_replied(30d) > 0 or reviews(1y) > 2"
                        .into(),
                tag_id: String::new(),
            },
        ))
        .await
        .expect("validate")
        .into_inner();
    assert!(checked.valid, "{:?}", checked.errors);
    assert!(checked.time_dependent, "responses age out of their window");

    let responders = h
        .active_tag(
            chain,
            "responder",
            TagSource::Rule,
            "campaign_responses(90d) >= 1",
        )
        .await;
    let repliers = h
        .active_tag(
            chain,
            "replier",
            TagSource::Rule,
            "messages_replied(30d) >= 1",
        )
        .await;
    let reviewers = h
        .active_tag(chain, "reviewer", TagSource::Rule, "reviews(30d) >= 1")
        .await;
    for c in ["li", "wang", "zhao", "old"] {
        h.profile.push(chain, crate::common::created(c));
    }
    // Li answers the autumn campaign in the mini-program; notification then marks her message
    // responded (the same response, so still one); Wang replies to an automation's message;
    // Zhao reviews; Old answered a campaign 100 days ago, outside the window.
    h.profile.push(
        chain,
        contact("li", ContactKind::CampaignResponse, "autumn", 0),
    );
    h.notification.push(
        chain,
        responded("li", "m-li", "autumn", "campaign_response"),
    );
    h.notification
        .push(chain, responded("wang", "m-wang", "", "inbound_reply"));
    h.profile
        .push(chain, contact("zhao", ContactKind::Review, "", 2));
    h.profile.push(
        chain,
        contact("old", ContactKind::CampaignResponse, "spring", 100),
    );
    members_become(&mut h, chain, &responders.tag_id, &["li"]).await;
    members_become(&mut h, chain, &repliers.tag_id, &["wang"]).await;
    members_become(&mut h, chain, &reviewers.tag_id, &["zhao"]).await;
    // Two routes of Li's one response count once; Old's is outside 90 days but inside a year.
    assert_eq!(
        preview_count(&mut h, chain, "campaign_responses(90d) == 1").await,
        1
    );
    assert_eq!(
        preview_count(&mut h, chain, "campaign_responses(90d) >= 2").await,
        0
    );
    assert_eq!(
        preview_count(&mut h, chain, "campaign_responses(1y) >= 1").await,
        2
    );
    // A reply to a campaign's message is a response to it and a reply.
    h.notification.push(
        chain,
        responded("zhao", "m-zhao", "winter", "inbound_reply"),
    );
    members_become(&mut h, chain, &responders.tag_id, &["li", "zhao"]).await;
    members_become(&mut h, chain, &repliers.tag_id, &["wang", "zhao"]).await;
}

on_both_backends!(interaction_rules_follow_both_streams);
