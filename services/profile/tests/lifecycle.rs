//! Classes, follow-ups, batch import, menu, block list and the owner through the real
//! service, on both backends.

mod common;

use std::sync::atomic::Ordering;

use common::*;
use maitre_kit::{
    config::ServiceName,
    testing::{self, Backend, TestConfig},
};
use maitre_proto::{
    common::v1::{CustomerClass, IdentityKind},
    events::v1::event::Payload,
    profile::v1::{
        self as pb, FollowUpPlanStatus, RfmMethod, profile_service_client::ProfileServiceClient,
    },
};
use tonic::Code;

use maitre_kit::on_both_backends;

on_both_backends!(
    a_big_visit_makes_class_a_and_plans_a_call,
    batch_import_records_skips_and_rejects_without_asking_assignment,
    order_lines_match_the_menu_by_name,
    blocked_identifiers_never_find_a_customer,
    unreachable_assignment_leaves_the_owner_unknown,
    upsert_is_idempotent_and_masks_are_checked,
);

fn ts(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

/// Thresholds under which one recent visit of ¥500 scores R5 F2 M5 = 12 points (class A)
/// and one of ¥1 scores R5 F2 M1 = 8 (class C: B starts at 9 here).
fn threshold_policy() -> pb::ClassificationPolicy {
    let mut policy = maitre_profile::convert::policy::default_policy();
    policy.classes[1].min_total_score = 9;
    policy.method = RfmMethod::Thresholds as i32;
    policy.thresholds = Some(pb::RfmThresholds {
        recency_days: vec![7, 30, 90, 180],
        frequency_visits: vec![1, 5, 10, 20],
        monetary_fen: vec![1_000, 5_000, 10_000, 50_000],
    });
    policy
}

async fn a_big_visit_makes_class_a_and_plans_a_call(backend: Backend) {
    let h = Harness::start(backend).await;
    let bad = h
        .api()
        .update_classification_policy(req(
            pb::UpdateClassificationPolicyRequest {
                policy: Some(pb::ClassificationPolicy::default()),
            },
            &hq(),
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(field(&bad), "policy.classes");
    h.api()
        .update_classification_policy(req(
            pb::UpdateClassificationPolicyRequest {
                policy: Some(threshold_policy()),
            },
            &hq(),
        ))
        .await
        .unwrap();
    let small = h
        .record(visit("pos-s", vec![phone("13900139000")], 100))
        .await
        .unwrap()
        .customer
        .unwrap();
    assert_eq!(small.classification.unwrap().class, CustomerClass::C as i32);
    let big = h
        .record(visit("pos-b", vec![phone("13900139001")], 50_000))
        .await
        .unwrap()
        .customer
        .unwrap();
    let class = big.classification.unwrap();
    assert_eq!(class.class, CustomerClass::A as i32);
    assert_eq!(
        (
            class.recency_score,
            class.frequency_score,
            class.monetary_score
        ),
        (5, 2, 5)
    );
    assert!(!class.reception_strategy.is_empty());
    let plans = h
        .api()
        .list_follow_up_plans(req(
            pb::ListFollowUpPlansRequest {
                manager_id: OWNER.into(),
                ..Default::default()
            },
            &hq(),
        ))
        .await
        .unwrap()
        .into_inner()
        .plans;
    assert_eq!(
        plans.len(),
        1,
        "class A gets a call within 2 days; class C nothing"
    );
    let plan = &plans[0];
    assert_eq!(plan.customer_id, big.customer_id);
    assert_eq!(plan.kind, pb::FollowUpKind::Call as i32);
    assert_eq!(plan.source, "class_rule");
    assert_eq!(plan.status, FollowUpPlanStatus::Open as i32);
    let record = h
        .api()
        .create_follow_up_record(req(
            pb::CreateFollowUpRecordRequest {
                customer_id: big.customer_id.clone(),
                record: Some(pb::FollowUpRecord {
                    kind: pb::FollowUpKind::Call as i32,
                    content: "感谢光临".into(),
                    ..Default::default()
                }),
                request_id: "r-1".into(),
            },
            &hq(),
        ))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    let done = h
        .api()
        .complete_follow_up_plan(req(
            pb::CompleteFollowUpPlanRequest {
                plan_id: plan.plan_id.clone(),
                record_id: record.record_id.clone(),
            },
            &hq(),
        ))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert_eq!(done.status, FollowUpPlanStatus::Completed as i32);
    let open = h
        .api()
        .list_follow_up_plans(req(
            pb::ListFollowUpPlansRequest {
                manager_id: OWNER.into(),
                ..Default::default()
            },
            &hq(),
        ))
        .await
        .unwrap()
        .into_inner()
        .plans;
    assert!(open.is_empty(), "completed plans leave the open list");
    let records = h
        .api()
        .list_follow_up_records(req(
            pb::ListFollowUpRecordsRequest {
                customer_id: big.customer_id.clone(),
                ..Default::default()
            },
            &hq(),
        ))
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].manager_id, "hq-1",
        "the manager defaults to the caller"
    );
    // The manager's counts for today: the completed plan is Wang's, the record hq-1's.
    let now = chrono::Utc::now();
    let summary = |manager: &str, token: String, end_offset_days: i64| {
        let mut api = h.api();
        let request = pb::SummarizeFollowUpsRequest {
            manager_id: manager.into(),
            period_start: Some(ts(now - chrono::Duration::days(1))),
            period_end: Some(ts(now + chrono::Duration::days(end_offset_days))),
        };
        async move {
            api.summarize_follow_ups(req(request, &token))
                .await
                .map(|r| r.into_inner())
        }
    };
    let wang = summary(OWNER, hq(), 1).await.unwrap();
    assert_eq!(
        (wang.plans_completed, wang.records, wang.plans_overdue),
        (1, 0, 0)
    );
    assert_eq!(summary("hq-1", hq(), 1).await.unwrap().records, 1);
    let other = testing::token(
        CHAIN,
        maitre_kit::auth::Role::CustomerManager,
        "li",
        &[STORE],
    );
    assert_eq!(
        summary(OWNER, other, 1).await.unwrap_err().code(),
        Code::PermissionDenied,
        "a customer manager reads only their own counts"
    );
    let backwards = summary(OWNER, hq(), -2).await.unwrap_err();
    assert_eq!(
        (backwards.code(), field(&backwards).as_str()),
        (Code::InvalidArgument, "period_end")
    );
    let log = h.watch_until(|e| matches!(&e.payload, Some(Payload::ClassChanged(c)) if c.to == CustomerClass::A as i32)).await;
    assert!(log.iter().any(
        |e| matches!(&e.payload, Some(Payload::ClassChanged(c)) if c.customer_id == big.customer_id)
    ));
}

async fn batch_import_records_skips_and_rejects_without_asking_assignment(backend: Backend) {
    let h = Harness::start(backend).await;
    let mut events: Vec<pb::ContactEvent> = (0..40)
        .map(|i| {
            // Each guest's four visits on four days (orders on one day are one visit).
            days_earlier(
                visit(
                    &format!("hist-{i}"),
                    vec![phone(&format!("1380013{:04}", i % 10))],
                    1_000 + i,
                ),
                i / 10,
            )
        })
        .collect();
    events.push(visit("hist-3", vec![phone("13800130003")], 1));
    let mut bad = visit("hist-bad", vec![phone("13800130001")], -5);
    bad.external_id = "hist-bad".into();
    events.push(bad);
    let response = h
        .api()
        .record_events_batch(req(pb::RecordEventsBatchRequest { events }, &hq()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (response.recorded, response.duplicates, response.rejected),
        (40, 1, 1)
    );
    assert_eq!(response.results.len(), 1);
    assert_eq!(response.results[0].index, 41);
    assert_eq!(response.results[0].error_field, "event.amount");
    assert_eq!(h.customer_count().await, 10);
    assert_eq!(
        h.owner.calls.load(Ordering::SeqCst),
        0,
        "batch imports never wait on assignment"
    );
    let one = h.lookup_phone("13800130003").await;
    assert_eq!(one.aggregates.unwrap().visits, 4);
}

async fn order_lines_match_the_menu_by_name(backend: Backend) {
    let h = Harness::start(backend).await;
    let imported = h
        .api()
        .import_dishes(req(
            pb::ImportDishesRequest {
                dishes: vec![
                    pb::Dish {
                        dish_id: "D-1".into(),
                        name: "清蒸石斑".into(),
                        category: "seafood".into(),
                        ingredients: vec!["石斑鱼".into()],
                        active: true,
                        price_fen: 28_800,
                        ..Default::default()
                    },
                    pb::Dish {
                        dish_id: "D-2".into(),
                        name: "杨枝甘露".into(),
                        category: "dessert".into(),
                        active: true,
                        ..Default::default()
                    },
                ],
            },
            &hq(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(imported.imported, 2);
    let missing = h
        .api()
        .upsert_dish(req(
            pb::UpsertDishRequest {
                dish: Some(pb::Dish {
                    name: "x".into(),
                    ..Default::default()
                }),
            },
            &hq(),
        ))
        .await
        .unwrap_err();
    assert_eq!(field(&missing), "dish.category");
    let mut event = visit("pos-menu", vec![phone("13800138010")], 30_000);
    event.lines[0].category.clear();
    let recorded = h.record(event).await.unwrap();
    let line = &recorded.event.unwrap().lines[0];
    assert_eq!(
        (line.dish_id.as_str(), line.category.as_str()),
        ("D-1", "seafood")
    );
    let favourites = recorded
        .customer
        .unwrap()
        .aggregates
        .unwrap()
        .favourite_dishes;
    assert_eq!(favourites[0].name, "D-1");
    let desserts = h
        .api()
        .list_dishes(req(
            pb::ListDishesRequest {
                category: "dessert".into(),
                ..Default::default()
            },
            &hq(),
        ))
        .await
        .unwrap()
        .into_inner()
        .dishes;
    assert_eq!(desserts.len(), 1);
    let log = h
        .watch_until(|e| matches!(&e.payload, Some(Payload::DishChanged(d)) if d.dish_id == "D-2"))
        .await;
    assert!(
        log.iter()
            .any(|e| matches!(&e.payload, Some(Payload::DishChanged(d)) if d.dish_id == "D-1"))
    );
}

async fn blocked_identifiers_never_find_a_customer(backend: Backend) {
    let h = Harness::start(backend).await;
    let shop_phone = phone("02161234567");
    let first = h
        .record(visit(
            "pos-1",
            vec![shop_phone.clone(), key(IdentityKind::MemberCard, "M1")],
            100,
        ))
        .await
        .unwrap()
        .customer
        .unwrap();
    let count = h
        .api()
        .update_blocked_identifiers(req(
            pb::UpdateBlockedIdentifiersRequest {
                add: vec![shop_phone.clone()],
                remove: vec![],
            },
            &hq(),
        ))
        .await
        .unwrap()
        .into_inner()
        .configured_count;
    assert_eq!(count, 1);
    // The shop's phone on another member's card no longer joins them to the first.
    let second = h
        .record(visit(
            "pos-2",
            vec![shop_phone.clone(), key(IdentityKind::MemberCard, "M2")],
            100,
        ))
        .await
        .unwrap()
        .customer
        .unwrap();
    assert_ne!(second.customer_id, first.customer_id);
    let alone = h
        .record(visit("pos-3", vec![shop_phone.clone()], 100))
        .await
        .unwrap_err();
    assert_eq!(alone.code(), Code::FailedPrecondition);
    assert_eq!(field(&alone), "event.identity_keys");
    let listed = h
        .api()
        .list_blocked_identifiers(req(pb::ListBlockedIdentifiersRequest::default(), &hq()))
        .await
        .unwrap()
        .into_inner()
        .identifiers;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].reason, "configured");
    assert_eq!(
        listed[0].identity_key.as_ref().unwrap().value,
        "+862161234567"
    );
}

async fn unreachable_assignment_leaves_the_owner_unknown(backend: Backend) {
    // Nothing listens on port 1: assignment is unreachable.
    let config = TestConfig::new(
        ServiceName::Profile,
        backend,
        &[("MAITRE_ASSIGNMENT_URL", "http://127.0.0.1:1")],
    );
    let service = testing::spawn(config.config.clone(), maitre_profile::serve).await;
    let mut api = ProfileServiceClient::connect(service.url.clone())
        .await
        .unwrap();
    api.create_store(req(
        pb::CreateStoreRequest {
            store: Some(pb::Store {
                store_id: STORE.into(),
                name: "s".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        },
        &hq(),
    ))
    .await
    .unwrap();
    let response = api
        .record_event(req(
            pb::RecordEventRequest {
                event: Some(visit("pos-1", vec![phone("13800138020")], 100)),
            },
            &hq(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!response.owner.unwrap().known);
    assert_eq!(
        response.customer.unwrap().aggregates.unwrap().visits,
        1,
        "the event is recorded regardless"
    );
}

async fn upsert_is_idempotent_and_masks_are_checked(backend: Backend) {
    let h = Harness::start(backend).await;
    let upsert = |request_id: &str, keys| {
        let mut api = h.api();
        let request = pb::UpsertCustomerRequest {
            identity_keys: keys,
            profile: Some(pb::Profile {
                name: "王先生".into(),
                ..Default::default()
            }),
            store_id: STORE.into(),
            request_id: request_id.into(),
        };
        async move {
            api.upsert_customer(req(request, &hq()))
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let first = upsert("u-1", vec![key(IdentityKind::WechatUnionid, "oU1")])
        .await
        .unwrap();
    assert!(first.created);
    let again = upsert("u-1", vec![key(IdentityKind::WechatUnionid, "oU1")])
        .await
        .unwrap();
    assert!(again.created, "the replay returns the first result");
    let customer = first.customer.unwrap();
    assert_eq!(again.customer.unwrap().customer_id, customer.customer_id);
    assert_eq!(customer.profile.unwrap().name, "王先生");
    let masked_only = upsert("u-2", vec![key(IdentityKind::MaskedPhone, "138****8000")])
        .await
        .unwrap_err();
    assert_eq!(field(&masked_only), "identity_keys");
    let update = |paths: Vec<&str>, notes: String| {
        let mut api = h.api();
        let request = pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                customer_id: customer.customer_id.clone(),
                profile: Some(pb::Profile {
                    notes,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: paths.into_iter().map(String::from).collect(),
            }),
            request_id: String::new(),
        };
        async move { api.update_customer(req(request, &hq())).await }
    };
    let unknown = update(vec!["profile.fax"], String::new())
        .await
        .unwrap_err();
    assert_eq!(field(&unknown), "update_mask");
    let oversize = update(vec!["profile.notes"], "注".repeat(2_001))
        .await
        .unwrap_err();
    assert_eq!(field(&oversize), "customer.profile.notes");
    let ok = update(vec!["profile.notes"], "靠窗".into())
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    let profile = ok.profile.unwrap();
    assert_eq!(
        (profile.notes.as_str(), profile.name.as_str()),
        ("靠窗", "王先生")
    );
}
