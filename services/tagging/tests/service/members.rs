//! Manual tags: role checks, unknown customers, replays, removal, history; cross-chain
//! isolation of tags, customers and segments.

use maitre_kit::on_both_backends;
use maitre_kit::{auth::Role, testing::Backend};
use maitre_proto::tagging::v1::{
    AddCustomerTagsRequest, CountSegmentRequest, GetTagRequest, ListCustomerTagsRequest,
    ListTagHistoryRequest, ListTagsRequest, RemoveCustomerTagsRequest, SegmentRef, TagSource,
    segment_ref::Ref,
};
use tonic::Code;

use crate::common::{admin, req, start};

fn add(tag_id: &str, customers: &[&str]) -> AddCustomerTagsRequest {
    AddCustomerTagsRequest {
        tag_id: tag_id.into(),
        customer_ids: customers.iter().map(|c| (*c).to_owned()).collect(),
        note: "到店确认".into(),
    }
}

async fn manual_tags_and_roles(backend: Backend) {
    let mut h = start(backend).await;
    let chain = "chain-1";
    let vip = h.active_tag(chain, "vip", TagSource::Manual, "").await;
    let rule = h
        .active_tag(chain, "ruled", TagSource::Rule, "visits(30d) > 100")
        .await;
    for c in ["c1", "c2"] {
        h.profile.push(chain, crate::common::created(c));
    }
    h.sync_profile(chain, "c3").await;

    let denied = h
        .client
        .add_customer_tags(req(chain, Role::FrontDesk, add(&vip.tag_id, &["c1"])))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let unknown = h
        .client
        .add_customer_tags(req(
            chain,
            Role::StoreManager,
            add(&vip.tag_id, &["c1", "nobody"]),
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert!(
        h.members(chain, &vip.tag_id).await.is_empty(),
        "nothing written"
    );
    let not_manual = h
        .client
        .add_customer_tags(admin(chain, add(&rule.tag_id, &["c1"])))
        .await
        .unwrap_err();
    assert_eq!(not_manual.code(), Code::FailedPrecondition);

    let added = h
        .client
        .add_customer_tags(req(
            chain,
            Role::StoreManager,
            add(&vip.tag_id, &["c1", "c2", "c1"]),
        ))
        .await
        .expect("add")
        .into_inner();
    assert_eq!(added.added, 2);
    let again = h
        .client
        .add_customer_tags(req(
            chain,
            Role::CustomerManager,
            add(&vip.tag_id, &["c1", "c3"]),
        ))
        .await
        .expect("add")
        .into_inner();
    assert_eq!(again.added, 1, "c1 already had it");
    let removed = h
        .client
        .remove_customer_tags(req(
            chain,
            Role::CustomerManager,
            RemoveCustomerTagsRequest {
                tag_id: vip.tag_id.clone(),
                customer_ids: vec!["c1".into()],
                note: String::new(),
            },
        ))
        .await
        .expect("remove")
        .into_inner();
    assert_eq!(removed.removed, 1);
    assert_eq!(
        h.members(chain, &vip.tag_id).await,
        vec!["c2".to_owned(), "c3".to_owned()]
    );
    let c1_history = h
        .client
        .list_tag_history(admin(
            chain,
            ListTagHistoryRequest {
                customer_id: "c1".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("history")
        .into_inner()
        .entries;
    let seen: Vec<(bool, String)> = c1_history
        .into_iter()
        .map(|e| (e.added, e.reason))
        .collect();
    assert_eq!(
        seen,
        vec![(false, "manual".to_owned()), (true, "到店确认".to_owned())]
    );
    let tags = h
        .client
        .list_customer_tags(req(
            chain,
            Role::FrontDesk,
            ListCustomerTagsRequest {
                customer_id: "c2".into(),
            },
        ))
        .await
        .expect("tags")
        .into_inner()
        .tags;
    assert_eq!(
        tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        vec!["vip"]
    );
    assert_eq!(tags[0].source, TagSource::Manual as i32);

    // Another chain sees none of it: ids of chain-1 are NOT_FOUND there.
    let other = "chain-2";
    let get = h
        .client
        .get_tag(admin(
            other,
            GetTagRequest {
                tag_id: vip.tag_id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(get.code(), Code::NotFound);
    let listed = h
        .client
        .list_tags(admin(other, ListTagsRequest::default()))
        .await
        .expect("list")
        .into_inner()
        .tags;
    assert!(listed.is_empty());
    let foreign_customer = h
        .client
        .list_customer_tags(admin(
            other,
            ListCustomerTagsRequest {
                customer_id: "c2".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(foreign_customer.code(), Code::NotFound);
    let own_vip = h.active_tag(other, "vip", TagSource::Manual, "").await;
    let cross = h
        .client
        .add_customer_tags(admin(other, add(&own_vip.tag_id, &["c2"])))
        .await
        .unwrap_err();
    assert_eq!(cross.code(), Code::NotFound);
    let count = |expression: &str| CountSegmentRequest {
        segment: Some(SegmentRef {
            r#ref: Some(Ref::Expression(expression.into())),
        }),
    };
    let theirs = h
        .client
        .count_segment(admin(other, count("vip or true")))
        .await
        .expect("count")
        .into_inner();
    assert_eq!(theirs.count, 0);
    let ours = h
        .client
        .count_segment(admin(chain, count("vip")))
        .await
        .expect("count")
        .into_inner();
    assert_eq!(ours.count, 2);
}

on_both_backends!(manual_tags_and_roles);

/// A replica answers segments from its own bitmaps, kept fresh from the service's log:
/// a manual tag added through one replica reaches the other's counts.
async fn replicas_share_membership(backend: Backend) {
    let mut h = start(backend).await;
    let chain = "chain-1";
    let vip = h.active_tag(chain, "vip", TagSource::Manual, "").await;
    h.profile.push(chain, crate::common::created("c1"));
    h.sync_profile(chain, "c2").await;
    let (mut other, _replica) = h.second_replica().await;
    let count = || CountSegmentRequest {
        segment: Some(SegmentRef {
            r#ref: Some(Ref::Expression("vip".into())),
        }),
    };
    // The other replica loads its bitmaps before the change.
    let before = other
        .count_segment(admin(chain, count()))
        .await
        .expect("count")
        .into_inner()
        .count;
    assert_eq!(before, 0);
    h.client
        .add_customer_tags(admin(chain, add(&vip.tag_id, &["c1", "c2"])))
        .await
        .expect("add");
    let mut seen = 0;
    for _ in 0..200 {
        seen = other
            .count_segment(admin(chain, count()))
            .await
            .expect("count")
            .into_inner()
            .count;
        if seen == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(seen, 2, "the second replica's bitmaps follow the log");
}

on_both_backends!(replicas_share_membership);
