//! Follow-up plans don't pile up (issue 19 item 5): a later visit's class-rule plan supersedes the
//! open plan of an earlier visit (also the stale B-class plan after the guest's upgrade to A), an
//! automation's new plan supersedes its own earlier one, manual plans stand, and the source says
//! which automation made a plan. Both backends.

mod common;

use chrono::{Duration, Utc};
use common::*;
use maitre_kit::{
    auth::Role,
    on_both_backends,
    testing::{self, Backend},
};
use maitre_proto::{
    common::v1::CustomerClass,
    profile::v1::{self as pb, FollowUpPlanStatus, RfmMethod},
};
use tonic::Code;

/// Thresholds under which one ¥20 visit scores R5 F2 M2 = 9 (class B) and ¥500 in all scores
/// R5 F2 M5 = 12 (class A).
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

fn visit_days_ago(external_id: &str, amount_fen: i64, hours_ago: i64) -> pb::ContactEvent {
    let at = Utc::now() - Duration::hours(hours_ago);
    pb::ContactEvent {
        occurred_at: Some(prost_types::Timestamp {
            seconds: at.timestamp(),
            nanos: 0,
        }),
        ..visit(external_id, vec![phone("13900139123")], amount_fen)
    }
}

async fn plans(
    h: &Harness,
    customer: &str,
    statuses: &[FollowUpPlanStatus],
) -> Vec<pb::FollowUpPlan> {
    h.api()
        .list_follow_up_plans(req(
            pb::ListFollowUpPlansRequest {
                customer_id: customer.into(),
                statuses: statuses.iter().map(|s| *s as i32).collect(),
                ..Default::default()
            },
            &hq(),
        ))
        .await
        .expect("list plans")
        .into_inner()
        .plans
}

async fn create_plan(
    h: &Harness,
    customer: &str,
    source: &str,
    token: &str,
) -> Result<pb::FollowUpPlan, tonic::Status> {
    h.api()
        .create_follow_up_plan(req(
            pb::CreateFollowUpPlanRequest {
                plan: Some(pb::FollowUpPlan {
                    customer_id: customer.into(),
                    manager_id: OWNER.into(),
                    kind: pb::FollowUpKind::Call as i32,
                    title: "到店后回访".into(),
                    due_at: Some(prost_types::Timestamp {
                        seconds: (Utc::now() + Duration::days(2)).timestamp(),
                        nanos: 0,
                    }),
                    source: source.into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            token,
        ))
        .await
        .map(|r| r.into_inner().plan.expect("plan"))
}

async fn a_later_visit_supersedes_the_open_plan_of_an_earlier_one(backend: Backend) {
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
    // Three visits over three days: B, B, then A (the upgrade).
    let mut customer = String::new();
    for (i, (amount_fen, hours_ago)) in [(2_000, 72), (2_000, 48), (50_000, 1)].iter().enumerate() {
        let recorded = h
            .record(visit_days_ago(&format!("pos-{i}"), *amount_fen, *hours_ago))
            .await
            .expect("visit")
            .customer
            .expect("customer");
        customer = recorded.customer_id;
        let class = recorded.classification.expect("class").class;
        let expected = if i < 2 {
            CustomerClass::B
        } else {
            CustomerClass::A
        };
        assert_eq!(class, expected as i32, "visit {i}");
    }
    let open = plans(&h, &customer, &[]).await;
    assert_eq!(
        open.len(),
        1,
        "one open follow-up after three visits: {open:?}"
    );
    assert_eq!(
        open[0].kind,
        pb::FollowUpKind::Call as i32,
        "the A-class plan"
    );
    assert_eq!(open[0].source, "class_rule");
    let superseded = plans(&h, &customer, &[FollowUpPlanStatus::Superseded]).await;
    assert_eq!(superseded.len(), 2, "{superseded:?}");
    assert!(
        superseded
            .iter()
            .all(|p| p.status == FollowUpPlanStatus::Superseded as i32
                && !p.superseded_by.is_empty()),
        "{superseded:?}"
    );
    assert!(
        superseded
            .iter()
            .any(|p| p.superseded_by == open[0].plan_id),
        "the newest plan supersedes the one before it"
    );
    // A superseded plan cannot be completed; its successor can.
    let refused = h
        .api()
        .complete_follow_up_plan(req(
            pb::CompleteFollowUpPlanRequest {
                plan_id: superseded[0].plan_id.clone(),
                ..Default::default()
            },
            &hq(),
        ))
        .await
        .expect_err("superseded");
    assert_eq!(refused.code(), Code::FailedPrecondition);
}

async fn an_automations_plan_names_it_and_supersedes_its_earlier_one(backend: Backend) {
    let h = Harness::start(backend).await;
    let customer = h
        .record(visit("pos-1", vec![phone("13900139124")], 100))
        .await
        .expect("visit")
        .customer
        .expect("customer")
        .customer_id;
    let service = testing::token(CHAIN, Role::Service, "notification", &[]);
    let first = create_plan(&h, &customer, "automation:a1", &service)
        .await
        .expect("first");
    assert_eq!(first.source, "automation:a1");
    let manual = create_plan(&h, &customer, "", &hq()).await.expect("manual");
    assert_eq!(manual.source, "manual");
    let second = create_plan(&h, &customer, "automation:a1", &service)
        .await
        .expect("second");
    let other = create_plan(&h, &customer, "automation:a2", &service)
        .await
        .expect("another automation");
    let mut open: Vec<String> = plans(&h, &customer, &[])
        .await
        .into_iter()
        .map(|p| p.plan_id)
        .collect();
    open.sort();
    let mut expected = vec![manual.plan_id, second.plan_id.clone(), other.plan_id];
    expected.sort();
    assert_eq!(open, expected, "the automation's first plan is superseded");
    let superseded = plans(&h, &customer, &[FollowUpPlanStatus::Superseded]).await;
    assert_eq!(superseded.len(), 1);
    assert_eq!(
        (
            superseded[0].plan_id.as_str(),
            superseded[0].superseded_by.as_str()
        ),
        (first.plan_id.as_str(), second.plan_id.as_str())
    );
    // People create manual plans only.
    let claimed = create_plan(&h, &customer, "automation:a1", &hq())
        .await
        .expect_err("a person claiming an automation");
    assert_eq!(claimed.code(), Code::InvalidArgument);
    assert_eq!(field(&claimed), "plan.source");
}

on_both_backends!(
    a_later_visit_supersedes_the_open_plan_of_an_earlier_one,
    an_automations_plan_names_it_and_supersedes_its_earlier_one,
);
