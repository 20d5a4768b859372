//! Campaign responders: sends and responses from notification's stream, a beta-binomial
//! smoothed response rate per guest at refit (one lucky response is not a high responder),
//! the `high_responder` model tag, and a new response moving the rate under the stored prior.

use maitre_kit::on_both_backends;
use std::time::Duration;

use chrono::Utc;
use maitre_kit::testing::Backend;
use maitre_proto::{
    events::v1::event::Payload,
    tagging::v1::{RefitModelsRequest, TagSource},
};

use crate::{
    common::{Harness, admin, start},
    predict::{model_tag_id, prediction, push_synthetic_chain},
};

/// Campaign `message` to `customer` sent `days_ago`, answered or not.
fn campaign_message(
    h: &Harness,
    chain: &str,
    message: &str,
    customer: &str,
    days_ago: i64,
    responded: bool,
) {
    let status = if responded {
        maitre_proto::events::v1::MessageStatus::Responded
    } else {
        maitre_proto::events::v1::MessageStatus::Sent
    };
    h.notification.push_at(
        chain,
        Payload::MessageStatusChanged(maitre_proto::events::v1::MessageStatusChanged {
            message_id: message.into(),
            customer_id: customer.into(),
            campaign_id: "autumn".into(),
            status: status as i32,
            ..Default::default()
        }),
        Some(Utc::now() - chrono::Duration::days(days_ago)),
    );
}

async fn high_responders_are_smoothed(backend: Backend) {
    let mut h = start(backend).await;
    let chain = "chain-1";
    push_synthetic_chain(&h, chain);
    h.sync_profile(chain, "marker-1").await;
    // Sends 400+ days ago, before any synthetic visit, so only RESPONDED counts: 12 guests
    // answer 0 of 4, 8 answer 1 of 4, 4 answer 3 of 4, g024 answers 6 of 6 and the lucky
    // g025 answers its only send.
    let mut sent = Vec::new();
    for i in 0..24 {
        let responses = match i {
            0..12 => 0,
            12..20 => 1,
            _ => 3,
        };
        for k in 0..4 {
            sent.push((format!("g{i:03}"), k, k < responses));
        }
    }
    for k in 0..6 {
        sent.push(("g024".into(), k, true));
    }
    sent.push(("g025".into(), 0, true));
    for (customer, k, responded) in &sent {
        let message = format!("{customer}-{k}");
        campaign_message(&h, chain, &message, customer, 400 + k, *responded);
    }
    let tagged: Vec<String> = (0..26).map(|i| format!("g{i:03}")).collect();
    let senders = h.active_tag(chain, "senders", TagSource::Manual, "").await;
    h.client
        .add_customer_tags(admin(
            chain,
            maitre_proto::tagging::v1::AddCustomerTagsRequest {
                tag_id: senders.tag_id.clone(),
                customer_ids: tagged,
                note: String::new(),
            },
        ))
        .await
        .expect("tag senders");
    // Wait until the notification consumer applied every send: 27 responses of 103.
    let group = maitre_proto::tagging::v1::SegmentRef {
        r#ref: Some(maitre_proto::tagging::v1::segment_ref::Ref::Expression(
            "senders".into(),
        )),
    };
    let mut rate = 0.0;
    for _ in 0..400 {
        let groups = h
            .client
            .compare_groups(admin(
                chain,
                maitre_proto::tagging::v1::CompareGroupsRequest {
                    groups: vec![group.clone(), group.clone()],
                    window_days: 420,
                },
            ))
            .await
            .expect("compare")
            .into_inner()
            .groups;
        rate = groups[0].response_rate;
        if (rate - 27.0 / 103.0).abs() < 1e-12 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!((rate - 27.0 / 103.0).abs() < 1e-12, "{rate}");

    let job = h
        .client
        .refit_models(admin(chain, RefitModelsRequest::default()))
        .await
        .expect("refit")
        .into_inner()
        .progress
        .expect("job");
    assert_eq!(h.wait_job(chain, &job.job_id).await.state, 3);
    let responders = model_tag_id(&mut h, chain, "high_responder")
        .await
        .expect("high_responder tag");
    assert_eq!(
        h.members(chain, &responders).await,
        vec!["g020", "g021", "g022", "g023", "g024"]
    );
    let lucky = prediction(&mut h, chain, "g025").await;
    let star = prediction(&mut h, chain, "g024").await;
    assert!(
        lucky.response_rate > 0.2 && lucky.response_rate < star.response_rate,
        "smoothed: {lucky:?} {star:?}"
    );
    assert!(star.response_rate < 1.0);

    // A new response moves the guest's rate under the stored prior, without a refit.
    let before = prediction(&mut h, chain, "g000").await.response_rate;
    campaign_message(&h, chain, "g000-new", "g000", 1, true);
    let mut after = before;
    for _ in 0..400 {
        after = prediction(&mut h, chain, "g000").await.response_rate;
        if after > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(after > before, "{before} → {after}");
}
on_both_backends!(high_responders_are_smoothed);
