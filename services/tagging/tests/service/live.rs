//! Live tagging: a ContactRecorded from profile re-evaluates the customer's rules, writes
//! membership and history, and TagAdded appears on the Watch stream.

use maitre_kit::on_both_backends;
use std::time::Duration;

use futures::StreamExt;
use maitre_kit::testing::Backend;
use maitre_proto::{
    events::v1::event::Payload,
    tagging::v1::{
        ExplainTagRequest, ListCustomerTagsRequest, ListTagHistoryRequest, TagSource, WatchRequest,
    },
};

use crate::common::{admin, created, days_earlier, start, visit};

async fn live_tagging_after_a_visit(backend: Backend) {
    let mut h = start(backend).await;
    let chain = "chain-1";
    let regular = h
        .active_tag(
            chain,
            "regular",
            TagSource::Rule,
            "visits(30d) >= 2 and avg_ticket(30d) > 100",
        )
        .await;
    let dessert = h
        .active_tag(
            chain,
            "likes_dessert",
            TagSource::Rule,
            "dish_share(\"dessert\", 90d) >= 0.5",
        )
        .await;
    let mut stream = h
        .client
        .watch(admin(chain, WatchRequest { from_sequence: 0 }))
        .await
        .expect("watch")
        .into_inner();
    h.profile.push(chain, created("c1"));
    h.profile.push(chain, created("c2"));
    h.profile
        .push(chain, visit("c1", 12_000, &["dessert", "seafood"]));
    h.profile.push(chain, visit("c2", 30_000, &["seafood"]));
    h.profile
        .push(chain, days_earlier(visit("c1", 15_000, &["dessert"]), 1));

    // TagAdded for c1's second visit arrives on the Watch stream.
    let mut added = Vec::new();
    while let Ok(Some(Ok(event))) =
        tokio::time::timeout(Duration::from_secs(10), stream.next()).await
    {
        if let Some(Payload::TagAdded(a)) = event.payload {
            added.push((a.customer_id, a.tag_name, a.source, a.rule_version));
            if added.iter().any(|(_, name, _, _)| name == "regular") {
                break;
            }
        }
    }
    assert!(
        added.contains(&("c1".into(), "regular".into(), "rule".into(), 1)),
        "{added:?}"
    );
    assert!(
        added.contains(&("c1".into(), "likes_dessert".into(), "rule".into(), 1)),
        "{added:?}"
    );
    h.sync_profile(chain, "marker").await;
    let tags_of = |customer: &str| {
        admin(
            chain,
            ListCustomerTagsRequest {
                customer_id: customer.into(),
            },
        )
    };
    let c1: Vec<String> = h
        .client
        .list_customer_tags(tags_of("c1"))
        .await
        .expect("c1")
        .into_inner()
        .tags
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(c1, vec!["likes_dessert".to_owned(), "regular".to_owned()]);
    let c2 = h
        .client
        .list_customer_tags(tags_of("c2"))
        .await
        .expect("c2")
        .into_inner()
        .tags;
    assert!(
        c2.is_empty(),
        "one visit is not regular, seafood is not dessert"
    );
    assert_eq!(
        h.members(chain, &regular.tag_id).await,
        vec!["c1".to_owned()]
    );
    assert_eq!(
        h.members(chain, &dessert.tag_id).await,
        vec!["c1".to_owned()]
    );

    // History names the rule version; Explain gives each term's value.
    let history = h
        .client
        .list_tag_history(admin(
            chain,
            ListTagHistoryRequest {
                customer_id: "c1".into(),
                tag_id: regular.tag_id.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect("history")
        .into_inner()
        .entries;
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].added, history[0].actor.as_str()),
        (true, "rule:v1")
    );
    let explained = h
        .client
        .explain_tag(admin(
            chain,
            ExplainTagRequest {
                customer_id: "c1".into(),
                tag_id: regular.tag_id.clone(),
            },
        ))
        .await
        .expect("explain")
        .into_inner();
    assert!(explained.has_tag);
    assert_eq!(explained.rule_version, 1);
    let terms: Vec<(String, String)> = explained
        .terms
        .into_iter()
        .map(|t| (t.term, t.value))
        .collect();
    assert!(
        terms.contains(&("visits(30d)".into(), "2".into())),
        "{terms:?}"
    );
    assert!(
        terms.contains(&("avg_ticket(30d)".into(), "135".into())),
        "{terms:?}"
    );
    let not_member = h
        .client
        .explain_tag(admin(
            chain,
            ExplainTagRequest {
                customer_id: "c2".into(),
                tag_id: regular.tag_id.clone(),
            },
        ))
        .await
        .expect("explain")
        .into_inner();
    assert!(!not_member.has_tag);
    assert!(
        not_member
            .terms
            .iter()
            .any(|t| t.term == "visits(30d)" && t.value == "1")
    );

    // A second visit for c2 makes c2 regular too.
    h.profile
        .push(chain, days_earlier(visit("c2", 1_000, &[]), 2));
    h.sync_profile(chain, "marker-2").await;
    assert_eq!(
        h.members(chain, &regular.tag_id).await,
        vec!["c1".to_owned(), "c2".to_owned()]
    );
}

on_both_backends!(live_tagging_after_a_visit);
