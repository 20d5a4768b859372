//! A new owner receives the guest's follow-up plans nobody holds, whichever way profile
//! learns of them (issue 20): from `AssignOnContact`'s answer, or from assignment's
//! `OwnerChanged` on the stream — the only way after an import (no call) or a failed call.
//! A plan someone holds stays with them. Both backends.

mod common;

use chrono::{Duration, Utc};
use common::*;
use maitre_kit::{eventlog::EventHandler, on_both_backends, testing::Backend};
use maitre_profile::events::OwnerEvents;
use maitre_proto::{
    common::v1::CustomerClass,
    events::v1::{Event, OwnerChanged, event::Payload},
    profile::v1::{self as pb, RfmMethod},
};

/// Thresholds under which one ¥500 visit an hour ago is class A (which plans a call).
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

async fn open_plans(h: &Harness, customer: &str) -> Vec<pb::FollowUpPlan> {
    h.api()
        .list_follow_up_plans(req(
            pb::ListFollowUpPlansRequest {
                customer_id: customer.into(),
                ..Default::default()
            },
            &hq(),
        ))
        .await
        .expect("list plans")
        .into_inner()
        .plans
}

/// Applies one `OwnerChanged` as profile's `profile<-assignment` consumer does.
async fn owner_changed(h: &Harness, customer: &str, to: &str) {
    let config = &h.config.config;
    let db = maitre_kit::db::connect(&config.database_url, &config.database_schema)
        .await
        .expect("db");
    let txn = maitre_kit::db::begin_write(&db).await.expect("txn");
    let event = Event {
        chain_id: CHAIN.into(),
        payload: Some(Payload::OwnerChanged(OwnerChanged {
            customer_id: customer.into(),
            from_manager_id: String::new(),
            to_manager_id: to.into(),
            reason: "daily_even_split".into(),
            decision_id: "d-1".into(),
        })),
        ..Event::default()
    };
    OwnerEvents.handle(&txn, &event).await.expect("applied");
    txn.commit().await.expect("commit");
}

async fn an_owner_from_the_stream_receives_the_plans(backend: Backend) {
    let h = Harness::start(backend).await;
    h.api()
        .update_classification_policy(req(
            pb::UpdateClassificationPolicyRequest {
                policy: Some(threshold_policy()),
            },
            &hq(),
        ))
        .await
        .expect("policy");
    // An import: no AssignOnContact call, so nobody is told the owner here.
    let walk_in = pb::ContactEvent {
        occurred_at: Some(prost_types::Timestamp {
            seconds: (Utc::now() - Duration::hours(1)).timestamp(),
            nanos: 0,
        }),
        ..visit("imp-1", vec![phone("13900139555")], 50_000)
    };
    let imported = h
        .api()
        .record_events_batch(req(
            pb::RecordEventsBatchRequest {
                events: vec![walk_in],
            },
            &hq(),
        ))
        .await
        .expect("batch")
        .into_inner();
    assert_eq!(imported.recorded, 1, "{imported:?}");
    assert_eq!(h.owner.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    let customer = h.lookup_phone("13900139555").await;
    assert_eq!(
        customer.classification.as_ref().map(|c| c.class),
        Some(CustomerClass::A as i32)
    );
    let plans = open_plans(&h, &customer.customer_id).await;
    assert_eq!(plans.len(), 1, "the class-A call: {plans:?}");
    assert_eq!(plans[0].manager_id, "", "nobody holds it yet");

    // Assignment allocates the guest on its stream and says so.
    owner_changed(&h, &customer.customer_id, "li").await;
    let plans = open_plans(&h, &customer.customer_id).await;
    assert_eq!(plans[0].manager_id, "li", "handed to the new owner");

    // A plan someone holds stays with them when the owner changes again.
    owner_changed(&h, &customer.customer_id, "zhao").await;
    let plans = open_plans(&h, &customer.customer_id).await;
    assert_eq!(plans[0].manager_id, "li", "a held plan is not taken away");
    let read = h.get(&customer.customer_id, &hq()).await.expect("customer");
    assert_eq!(read.owner_manager_id, "zhao");
}

on_both_backends!(an_owner_from_the_stream_receives_the_plans);
