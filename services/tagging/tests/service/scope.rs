//! Store scope on customer-level calls: store-scoped roles act only on customers known at
//! their stores (PERMISSION_DENIED otherwise, as profile answers); hq_admin chain-wide.

use maitre_kit::on_both_backends;
use maitre_kit::{auth::Role, testing::Backend};
use maitre_proto::{
    events::v1::{ContactKind, ContactRecorded, CustomerCreated, event::Payload},
    tagging::v1::{
        AddCustomerTagsRequest, BulkTagSegmentRequest, ExplainTagRequest, ListCustomerTagsRequest,
        SegmentRef, TagSource, segment_ref::Ref,
    },
};
use tonic::Code;

use crate::common::{admin, created, req_at, start};

async fn store_scope_on_customers(backend: Backend) {
    let mut h = start(backend).await;
    let chain = "chain-s";
    let vip = h.active_tag(chain, "vip", TagSource::Manual, "").await;
    h.profile.push(chain, created("c1"));
    h.profile.push(
        chain,
        Payload::CustomerCreated(CustomerCreated {
            customer_id: "c2".into(),
            home_store_id: "store-2".into(),
        }),
    );
    // c3 lives at store-1 but booked once at store-2: known at both.
    h.profile.push(chain, created("c3"));
    h.profile.push(
        chain,
        Payload::ContactRecorded(ContactRecorded {
            event_id: "booking-1".into(),
            customer_id: "c3".into(),
            kind: ContactKind::Booking as i32,
            store_id: "store-2".into(),
            ..Default::default()
        }),
    );
    h.sync_profile(chain, "marker").await;

    let tags_of = |role, stores: &[&str], customer: &str| {
        req_at(
            chain,
            role,
            stores,
            ListCustomerTagsRequest {
                customer_id: customer.into(),
            },
        )
    };
    let denied = h
        .client
        .list_customer_tags(tags_of(Role::StoreManager, &["store-2"], "c1"))
        .await
        .expect_err("c1 is not known at store-2");
    assert_eq!(denied.code(), Code::PermissionDenied);
    for customer in ["c2", "c3"] {
        h.client
            .list_customer_tags(tags_of(Role::StoreManager, &["store-2"], customer))
            .await
            .expect("known at store-2");
    }
    h.client
        .list_customer_tags(tags_of(Role::FrontDesk, &["store-1"], "c1"))
        .await
        .expect("front desk at the home store");
    h.client
        .list_customer_tags(tags_of(Role::HqAdmin, &[], "c2"))
        .await
        .expect("hq is chain-wide");
    let explain = h
        .client
        .explain_tag(req_at(
            chain,
            Role::CustomerManager,
            &["store-2"],
            ExplainTagRequest {
                customer_id: "c1".into(),
                tag_id: vip.tag_id.clone(),
            },
        ))
        .await
        .expect_err("explain is customer-level");
    assert_eq!(explain.code(), Code::PermissionDenied);

    let add = |customers: &[&str]| {
        req_at(
            chain,
            Role::StoreManager,
            &["store-2"],
            AddCustomerTagsRequest {
                tag_id: vip.tag_id.clone(),
                customer_ids: customers.iter().map(|c| (*c).to_owned()).collect(),
                note: String::new(),
            },
        )
    };
    let mixed = h
        .client
        .add_customer_tags(add(&["c2", "c1"]))
        .await
        .expect_err("c1 out of scope");
    assert_eq!(mixed.code(), Code::PermissionDenied);
    assert!(
        h.members(chain, &vip.tag_id).await.is_empty(),
        "nothing written"
    );
    let added = h
        .client
        .add_customer_tags(add(&["c2"]))
        .await
        .expect("c2 in scope")
        .into_inner();
    assert_eq!(added.added, 1);

    // In bulk, a store-scoped caller tags only the members known at their stores.
    let bulk = h
        .client
        .bulk_tag_segment(req_at(
            chain,
            Role::StoreManager,
            &["store-2"],
            BulkTagSegmentRequest {
                tag_id: vip.tag_id.clone(),
                segment: Some(SegmentRef {
                    r#ref: Some(Ref::Expression("not vip".into())),
                }),
                remove: false,
                note: String::new(),
            },
        ))
        .await
        .expect("bulk")
        .into_inner();
    assert_eq!(bulk.changed, 1, "c3 only; c1 and the marker are elsewhere");
    assert_eq!(
        h.members(chain, &vip.tag_id).await,
        vec!["c2".to_owned(), "c3".to_owned()]
    );
    let hq = h
        .client
        .list_customer_tags(admin(
            chain,
            ListCustomerTagsRequest {
                customer_id: "c1".into(),
            },
        ))
        .await
        .expect("hq")
        .into_inner();
    assert!(hq.tags.is_empty());
}

on_both_backends!(store_scope_on_customers);
