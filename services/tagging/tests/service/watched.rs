//! Watched segments: SegmentEntered / SegmentLeft on the Watch stream when a customer's
//! membership changes through live tagging or manual tags, once each; replays emit nothing.

use maitre_kit::on_both_backends;
use std::time::Duration;

use futures::StreamExt;
use maitre_kit::testing::Backend;
use maitre_proto::{
    events::v1::event::Payload,
    tagging::v1::{
        AddCustomerTagsRequest, CreateSegmentRequest, RemoveCustomerTagsRequest, Segment,
        TagSource, WatchRequest,
    },
};

use crate::common::{admin, created, start, visit};

async fn watched_segment_moves(backend: Backend) {
    let mut h = start(backend).await;
    let chain = "chain-w";
    h.active_tag(
        chain,
        "likes_dessert",
        TagSource::Rule,
        r#"dish_share("dessert", 90d) >= 0.5"#,
    )
    .await;
    let churn = h
        .active_tag(chain, "churn_risk", TagSource::Manual, "")
        .await;
    let segment = h
        .client
        .create_segment(admin(
            chain,
            CreateSegmentRequest {
                segment: Some(Segment {
                    name: "dessert lovers".into(),
                    expression: "likes_dessert and not churn_risk".into(),
                    watched: true,
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .expect("segment")
        .into_inner()
        .segment
        .expect("segment");

    h.profile.push(chain, created("c1"));
    h.profile.push(chain, created("c2"));
    let dessert = visit("c1", 8_000, &["dessert"]);
    h.profile.push(chain, dessert.clone());
    h.profile.push(chain, visit("c2", 8_000, &["seafood"]));
    h.sync_profile(chain, "m1").await;
    // Profile replays the same contact (same event id): nothing changes, nothing is emitted.
    h.profile.push(chain, dessert);
    h.sync_profile(chain, "m2").await;

    let manual = |tag_id: &str| AddCustomerTagsRequest {
        tag_id: tag_id.into(),
        customer_ids: vec!["c1".into()],
        note: String::new(),
    };
    h.client
        .add_customer_tags(admin(chain, manual(&churn.tag_id)))
        .await
        .expect("add churn_risk");
    h.client
        .remove_customer_tags(admin(
            chain,
            RemoveCustomerTagsRequest {
                tag_id: churn.tag_id.clone(),
                customer_ids: vec!["c1".into()],
                note: String::new(),
            },
        ))
        .await
        .expect("remove churn_risk");
    // Two seafood visits: dessert is a third of the lines, likes_dessert leaves.
    h.profile.push(chain, visit("c1", 8_000, &["seafood"]));
    h.profile.push(chain, visit("c1", 8_000, &["seafood"]));
    h.sync_profile(chain, "m3").await;

    let mut stream = h
        .client
        .watch(admin(chain, WatchRequest { from_sequence: 0 }))
        .await
        .expect("watch")
        .into_inner();
    let mut moves = Vec::new();
    while let Ok(Some(Ok(event))) =
        tokio::time::timeout(Duration::from_secs(3), stream.next()).await
    {
        match event.payload {
            Some(Payload::SegmentEntered(e)) => {
                moves.push(("entered", e.segment_id, e.customer_id))
            }
            Some(Payload::SegmentLeft(e)) => moves.push(("left", e.segment_id, e.customer_id)),
            _ => {}
        }
    }
    let id = segment.segment_id;
    let expected = vec![
        ("entered", id.clone(), "c1".to_owned()),
        ("left", id.clone(), "c1".to_owned()),
        ("entered", id.clone(), "c1".to_owned()),
        ("left", id.clone(), "c1".to_owned()),
    ];
    assert_eq!(
        moves, expected,
        "live add, manual add/remove, live removal; replay silent"
    );
}

on_both_backends!(watched_segment_moves);
