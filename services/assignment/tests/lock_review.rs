//! A value lock set after guests spent reaches them: setting (or lowering) the threshold
//! starts a lock review — a job with progress — that locks every owned guest already at or
//! above it to the manager who owns them, with the actor and job in the history; a guest
//! whose two records' spend adds up past it in a merge is locked too. The contract's
//! "0 = no value lock" holds: PATCH accepts 0 and GET shows it. Both backends.

mod common;

use std::time::Duration;

use common::*;
use maitre_assignment::{app::Engine, events::ProfileEvents, storage::Migrator};
use maitre_kit::eventlog::Consumer;
use maitre_kit::on_both_backends;
use maitre_kit::runtime::Runtime;
use maitre_kit::testing::Backend;
use maitre_proto::assignment::v1 as pb;
use maitre_proto::common::v1::JobState;
use maitre_proto::events::v1::{CustomerMerged, Event, event::Payload};
use tonic::Code;
use tonic::transport::Channel;

type Api = pb::assignment_service_client::AssignmentServiceClient<Channel>;

fn paid<'a>(customer: &'a str, via: &'a str, amount_fen: i64, event: &'a str) -> Contact<'a> {
    Contact {
        customer,
        via,
        amount_fen,
        at: at(0),
        event,
    }
}

/// Waits (bounded) for the review to finish and returns it.
async fn finished_review(api: &mut Api, job_id: &str) -> pb::GetLockReviewResponse {
    for _ in 0..200 {
        let review = api
            .get_lock_review(req(pb::GetLockReviewRequest {
                job_id: job_id.to_owned(),
            }))
            .await
            .expect("lock review")
            .into_inner();
        let state = review.progress.as_ref().map(|p| p.state);
        if state == Some(JobState::Succeeded as i32) {
            return review;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the lock review did not finish");
}

async fn setting_the_threshold_locks_guests_already_past_it(backend: Backend) {
    let h = Harness::start(backend, 1).await;
    let mut api = h.api();
    add_manager(&mut api, "wang", &[STORE], 0).await;
    add_manager(&mut api, "zhang", &[STORE], 0).await;
    // No threshold yet (the default): ¥610 and ¥300 of spend lock nobody.
    contact(&mut api, paid("li", "wang", 61_000, "li-1")).await;
    contact(&mut api, paid("zhao", "zhang", 30_000, "zhao-1")).await;
    assert!(!ownership(&mut api, "li").await.locked);

    let response = api
        .update_policy(req(pb::UpdatePolicyRequest {
            policy: Some(pb::Policy {
                value_lock_threshold_fen: 50_000,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["value_lock_threshold_fen".into()],
            }),
        }))
        .await
        .expect("threshold set")
        .into_inner();
    let job = response.lock_review.expect("a lock review started");
    assert_eq!(job.total, 1, "one guest may reach ¥500");
    let review = finished_review(&mut api, &job.job_id).await;
    let progress = review.progress.clone().expect("progress");
    assert_eq!((progress.done, progress.total, progress.failed), (1, 1, 0));
    assert_eq!(
        review.locked_per_manager.get("wang"),
        Some(&1),
        "{review:?}"
    );

    let li = ownership(&mut api, "li").await;
    assert!(li.locked, "¥610 reaches the new ¥500 threshold");
    assert_eq!(
        li.manager_id, "wang",
        "locked with the manager who owned them"
    );
    let why = history(&mut api, "li").await;
    let last = why.last().expect("a decision");
    assert_eq!(reason(last), pb::Reason::ValueLock, "{why:?}");
    assert_eq!(last.actor, "hq-1", "the lock names who set the threshold");
    assert!(
        !ownership(&mut api, "zhao").await.locked,
        "¥300 stays unlocked"
    );

    // The same threshold again starts nothing; the review is not a bulk transfer.
    let again = api
        .update_policy(req(pb::UpdatePolicyRequest {
            policy: Some(pb::Policy {
                value_lock_threshold_fen: 50_000,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["value_lock_threshold_fen".into()],
            }),
        }))
        .await
        .expect("same threshold")
        .into_inner();
    assert!(again.lock_review.is_none());
    let not_a_transfer = api
        .get_bulk_transfer(req(pb::GetBulkTransferRequest {
            job_id: job.job_id.clone(),
        }))
        .await
        .expect_err("a review is no bulk transfer");
    assert_eq!(not_a_transfer.code(), Code::NotFound);

    // 0 is "no value lock", as the contract says; negative names the field.
    set_policy(
        &mut api,
        pb::Policy::default(),
        &["value_lock_threshold_fen"],
    )
    .await;
    let policy = api
        .get_policy(req(pb::GetPolicyRequest::default()))
        .await
        .expect("policy")
        .into_inner()
        .policy
        .expect("policy");
    assert_eq!(policy.value_lock_threshold_fen, 0);
    let negative = api
        .update_policy(req(pb::UpdatePolicyRequest {
            policy: Some(pb::Policy {
                value_lock_threshold_fen: -1,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["value_lock_threshold_fen".into()],
            }),
        }))
        .await
        .expect_err("negative refused");
    assert_eq!(negative.code(), Code::InvalidArgument);
    assert_eq!(
        maitre_kit::error::field_of(&negative).as_deref(),
        Some("policy.value_lock_threshold_fen")
    );
}

async fn a_merge_past_the_threshold_locks_the_survivor(backend: Backend) {
    let h = Harness::start(backend, 1).await;
    let mut api = h.api();
    add_manager(&mut api, "wang", &[STORE], 0).await;
    set_policy(
        &mut api,
        pb::Policy {
            value_lock_threshold_fen: 50_000,
            ..Default::default()
        },
        &["value_lock_threshold_fen"],
    )
    .await;
    // Two records of one guest, ¥300 and ¥310: neither crosses ¥500 alone.
    contact(&mut api, paid("phone-li", "wang", 30_000, "p-1")).await;
    contact(&mut api, paid("wechat-li", "wang", 31_000, "w-1")).await;
    assert!(!ownership(&mut api, "phone-li").await.locked);

    let runtime = Runtime::start::<Migrator>(h.config.config.clone())
        .await
        .expect("runtime");
    let handler = ProfileEvents {
        engine: Engine::new(runtime.clone()),
    };
    let consumer = Consumer::new("assignment<-profile", runtime.db.clone());
    let merged = Event {
        sequence: 1,
        event_id: "profile-1".into(),
        chain_id: CHAIN.into(),
        source: "profile".into(),
        payload: Some(Payload::CustomerMerged(CustomerMerged {
            survivor_id: "phone-li".into(),
            absorbed_ids: vec!["wechat-li".into()],
            reason: "shared_identity".into(),
        })),
        ..Default::default()
    };
    consumer.apply(&merged, &handler).await.expect("merged");
    let li = ownership(&mut api, "phone-li").await;
    assert_eq!(li.counted_spend_fen, 61_000);
    assert!(li.locked, "¥610 together reaches ¥500");
    assert_eq!(li.manager_id, "wang");
    let why = history(&mut api, "phone-li").await;
    assert_eq!(
        why.last().map(reason),
        Some(pb::Reason::ValueLock),
        "{why:?}"
    );
}

on_both_backends!(
    setting_the_threshold_locks_guests_already_past_it,
    a_merge_past_the_threshold_locks_the_survivor,
);
