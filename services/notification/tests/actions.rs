//! Queued automation actions against real storage (both backends): a `CreateFollowUp` action queued in
//! the consumer's transaction and performed once by the action worker (a fake profile; retried with the
//! same request id), and a `CallWebhook` action POSTed signed to a local receiver, retried with backoff
//! and dead-lettered after the chain's maximum attempts.

mod common;

use maitre_kit::on_both_backends;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use common::*;
use maitre_kit::eventlog::EventHandler;
use maitre_kit::testing::Backend;
use maitre_notification::app::actions::{
    ActionWorker, ActionWorkerConfig, FollowUpPlanAction, FollowUpPlans, SignedWebhooks,
    WebhookCall, WebhookCalls,
};
use maitre_notification::domain::signature::verify_webhook;
use maitre_notification::domain::webhook_target::AllowedHosts;
use maitre_notification::events::consumers::AutomationHandler;
use maitre_notification::providers::ProviderError;
use maitre_notification::storage::{actions, automations};
use maitre_proto::events::v1::{Event, OwnerChanged, TagAdded, event::Payload};
use maitre_proto::notification::v1 as pb;
use sea_orm::{DatabaseConnection, TransactionTrait};

fn event(sequence: u64, payload: Payload) -> Event {
    Event {
        sequence,
        chain_id: CHAIN.into(),
        payload: Some(payload),
        ..Event::default()
    }
}

async fn feed(handler: &AutomationHandler, db: &DatabaseConnection, e: &Event) {
    let txn = db.begin().await.expect("txn");
    handler.handle(&txn, e).await.expect("handled");
    txn.commit().await.expect("commit");
}

/// Stores an automation firing `action` when `vip` is added.
async fn automation_on_vip(db: &DatabaseConnection, action: pb::Action) {
    let automation = pb::Automation {
        automation_id: "a1".into(),
        name: "vip welcome".into(),
        trigger: Some(pb::Trigger {
            kind: pb::TriggerKind::TagAdded as i32,
            tag: "vip".into(),
            ..Default::default()
        }),
        actions: vec![action],
        enabled: true,
        ..Default::default()
    };
    maitre_notification::app::automation::to_domain(db, CHAIN, &automation)
        .await
        .expect("valid automation");
    automations::upsert(db, CHAIN, &automation, 0)
        .await
        .expect("automation");
}

fn vip_added(sequence: u64) -> Event {
    event(
        sequence,
        Payload::TagAdded(TagAdded {
            customer_id: "g1".into(),
            tag_name: "vip".into(),
            ..Default::default()
        }),
    )
}

/// A fake profile: fails the first `failures` calls transiently, then creates plans, recording every
/// call (retries carry the same request id, which profile's idempotency turns into one plan).
#[derive(Default)]
struct FakeProfile {
    failures: Mutex<u32>,
    calls: Mutex<Vec<(String, FollowUpPlanAction)>>,
}

#[async_trait::async_trait]
impl FollowUpPlans for FakeProfile {
    async fn create(
        &self,
        chain: &str,
        _automation: &str,
        plan: &FollowUpPlanAction,
    ) -> Result<String, ProviderError> {
        self.calls
            .lock()
            .expect("lock")
            .push((chain.to_owned(), plan.clone()));
        let mut failures = self.failures.lock().expect("lock");
        if *failures > 0 {
            *failures -= 1;
            return Err(ProviderError::Transient {
                error: "profile unavailable".into(),
                retry_after_ms: None,
            });
        }
        Ok(format!("plan-{}", plan.request_id.len()))
    }
}

/// Stores an automation creating a follow-up plan, due in 48 hours, when `vip` is added.
async fn follow_up_on_vip(db: &DatabaseConnection) {
    let action = pb::Action {
        kind: pb::ActionKind::CreateFollowUp as i32,
        title: "VIP 回访".into(),
        due_in_hours: 48,
        ..Default::default()
    };
    automation_on_vip(db, action).await;
}

/// Webhooks are not expected in the follow-up scenario.
struct NoWebhooks;

#[async_trait::async_trait]
impl WebhookCalls for NoWebhooks {
    async fn call(&self, _: &WebhookCall, _: &str) -> Result<String, ProviderError> {
        Err(ProviderError::Permanent {
            error: "unexpected webhook".into(),
        })
    }
}

fn worker_config() -> ActionWorkerConfig {
    ActionWorkerConfig {
        running_lease: Duration::from_secs(60),
        ..ActionWorkerConfig::default()
    }
}

async fn follow_up_plan_created_once_after_commit(backend: Backend) {
    let env = env(backend).await;
    let db = &env.db.db;
    follow_up_on_vip(db).await;
    let handler = AutomationHandler::new(env.pipeline.clone());
    feed(
        &handler,
        db,
        &event(
            1,
            Payload::OwnerChanged(OwnerChanged {
                customer_id: "g1".into(),
                to_manager_id: "wang".into(),
                ..Default::default()
            }),
        ),
    )
    .await;
    let before = Utc::now();
    feed(&handler, db, &vip_added(2)).await;
    // A replay of the same event queues nothing new.
    feed(&handler, db, &vip_added(2)).await;
    let queued = actions::for_customer(db, CHAIN, "g1")
        .await
        .expect("actions");
    assert_eq!(queued.len(), 1, "one action per occurrence");
    assert_eq!(
        queued[0].status, "queued",
        "nothing is called inside the consumer"
    );
    let profile = Arc::new(FakeProfile {
        failures: Mutex::new(1),
        ..FakeProfile::default()
    });
    let worker = ActionWorker::new(
        env.pipeline.clone(),
        profile.clone(),
        Arc::new(NoWebhooks),
        worker_config(),
    );
    assert_eq!(worker.run_once(Utc::now()).await.expect("round"), 1);
    let row = actions::get_by_dedup_key(db, CHAIN, &queued[0].dedup_key)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(row.status, "queued", "a transient failure is retried");
    assert_eq!(row.reason, "profile unavailable");
    // The backoff (at most 1 s after the first failure) has passed an hour later.
    let later = Utc::now() + chrono::Duration::hours(1);
    worker.run_once(later).await.expect("round");
    worker.run_once(later).await.expect("round");
    let row = actions::get_by_dedup_key(db, CHAIN, &queued[0].dedup_key)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(row.status, "done");
    assert_eq!(row.attempts, 2);
    let calls = profile.calls.lock().expect("lock").clone();
    assert_eq!(calls.len(), 2, "one failure, one success, no more");
    assert_eq!(calls[0].1, calls[1].1, "a retry sends the same request");
    let (chain, plan) = &calls[1];
    assert_eq!(chain, CHAIN);
    assert_eq!(plan.manager_id, "wang", "the owner known from OwnerChanged");
    assert_eq!(plan.customer_id, "g1");
    assert_eq!(plan.title, "VIP 回访");
    assert_eq!(plan.request_id, row.dedup_key);
    let due_in_us = plan.due_at_us - before.timestamp_micros();
    let hours_48_us = 48 * 3_600_000_000_i64;
    assert!(
        (hours_48_us..hours_48_us + 60_000_000).contains(&due_in_us),
        "due in 48 hours, got {due_in_us} µs"
    );
}

on_both_backends!(follow_up_plan_created_once_after_commit);

/// A webhook call as the receiver saw it: signature header and raw body.
type Received = (String, Vec<u8>);

/// A local receiver answering `status` and recording every call.
async fn receiver(status: u16) -> (String, Arc<Mutex<Vec<Received>>>) {
    use axum::{Router, body::Bytes, http::HeaderMap, http::StatusCode, routing::post};
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let sink = received.clone();
    let status = StatusCode::from_u16(status).expect("status");
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                let signature = headers
                    .get("x-maitre-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                sink.lock().expect("lock").push((signature, body.to_vec()));
                (status, axum::Json(serde_json::json!({ "id": "hook-1" })))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), received)
}

/// A worker whose webhooks may reach the local receiver: the operator's explicit allowance
/// (`MAITRE_WEBHOOK_ALLOWED_HOSTS=127.0.0.1`).
async fn webhook_worker(env: &Env) -> ActionWorker {
    let webhooks = SignedWebhooks::new(b"s3cret", Duration::from_secs(5))
        .expect("client")
        .allowing(AllowedHosts::parse("127.0.0.1"));
    ActionWorker::new(
        env.pipeline.clone(),
        Arc::new(FakeProfile::default()),
        Arc::new(webhooks),
        worker_config(),
    )
}

async fn webhook_called_signed_with_the_occurrence(backend: Backend) {
    let env = env(backend).await;
    let db = &env.db.db;
    let (url, received) = receiver(200).await;
    automation_on_vip(
        db,
        pb::Action {
            kind: pb::ActionKind::Webhook as i32,
            webhook_url: url,
            ..Default::default()
        },
    )
    .await;
    let handler = AutomationHandler::new(env.pipeline.clone());
    feed(&handler, db, &vip_added(7)).await;
    feed(&handler, db, &vip_added(7)).await;
    assert!(
        received.lock().expect("lock").is_empty(),
        "nothing is called inside the consumer"
    );
    let worker = webhook_worker(&env).await;
    worker.run_once(Utc::now()).await.expect("round");
    worker.run_once(Utc::now()).await.expect("round");
    let rows = actions::for_customer(db, CHAIN, "g1")
        .await
        .expect("actions");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "done");
    assert_eq!(rows[0].result, "hook-1");
    let received = received.lock().expect("lock").clone();
    assert_eq!(received.len(), 1, "one call per occurrence");
    let (signature, body) = &received[0];
    verify_webhook(b"s3cret", signature, body, Utc::now().timestamp(), 300)
        .expect("signature verifies");
    let json: serde_json::Value = serde_json::from_slice(body).expect("json");
    assert_eq!(json["customer_id"], "g1");
    assert_eq!(json["automation_id"], "a1");
    assert_eq!(json["occurrence"]["kind"], "tag_added");
    assert_eq!(json["occurrence"]["tag"], "vip");
    assert_eq!(json["occurrence"]["event_sequence"], 7);
    assert_eq!(json["dedup_key"], rows[0].dedup_key.as_str());
}

on_both_backends!(webhook_called_signed_with_the_occurrence);

async fn failing_webhook_retries_then_dead_letters(backend: Backend) {
    let env = env(backend).await;
    let db = &env.db.db;
    set_policy(
        db,
        pb::ChainPolicy {
            max_attempts: 3,
            ..Default::default()
        },
    )
    .await;
    let (url, received) = receiver(503).await;
    automation_on_vip(
        db,
        pb::Action {
            kind: pb::ActionKind::Webhook as i32,
            webhook_url: url,
            ..Default::default()
        },
    )
    .await;
    let handler = AutomationHandler::new(env.pipeline.clone());
    feed(&handler, db, &vip_added(9)).await;
    let worker = webhook_worker(&env).await;
    let mut now = Utc::now();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        worker.run_once(now).await.expect("round");
        let rows = actions::for_customer(db, CHAIN, "g1")
            .await
            .expect("actions");
        statuses.push(rows[0].status.clone());
        // Past any backoff of this policy (at most 10 min).
        now += chrono::Duration::hours(1);
    }
    assert_eq!(statuses, ["queued", "queued", "dead", "dead", "dead"]);
    let row = &actions::for_customer(db, CHAIN, "g1")
        .await
        .expect("actions")[0];
    assert_eq!(row.attempts, 3);
    assert!(
        row.reason
            .starts_with("attempts_exhausted after 3: webhook answered 503"),
        "reason: {}",
        row.reason
    );
    assert_eq!(
        received.lock().expect("lock").len(),
        3,
        "no call after the dead letter"
    );
}

on_both_backends!(failing_webhook_retries_then_dead_letters);

/// Issue 19 item 8: a webhook into the deployment's own network (here loopback, where Redis or the
/// metadata service would be) is never called unless the operator allows the host: the action
/// dead-letters at once with the reason, and the receiver sees nothing.
async fn a_webhook_into_an_internal_network_is_never_called(backend: Backend) {
    let env = env(backend).await;
    let db = &env.db.db;
    let (url, received) = receiver(200).await;
    automation_on_vip(
        db,
        pb::Action {
            kind: pb::ActionKind::Webhook as i32,
            webhook_url: url,
            ..Default::default()
        },
    )
    .await;
    let handler = AutomationHandler::new(env.pipeline.clone());
    feed(&handler, db, &vip_added(11)).await;
    let webhooks = SignedWebhooks::new(b"s3cret", Duration::from_secs(5)).expect("client");
    let worker = ActionWorker::new(
        env.pipeline.clone(),
        Arc::new(FakeProfile::default()),
        Arc::new(webhooks),
        worker_config(),
    );
    worker.run_once(Utc::now()).await.expect("round");
    let rows = actions::for_customer(db, CHAIN, "g1")
        .await
        .expect("actions");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "dead", "{:?}", rows[0]);
    assert!(
        rows[0].reason.contains("internal network"),
        "reason: {}",
        rows[0].reason
    );
    assert!(received.lock().expect("lock").is_empty(), "never called");
}

on_both_backends!(a_webhook_into_an_internal_network_is_never_called);

/// A follow-up plan fired before the guest's owner is known waits for the owner (the worker
/// does not call profile with no manager), and OwnerChanged queues it for that owner, once.
async fn a_follow_up_before_the_owner_waits_for_the_owner(backend: Backend) {
    let env = env(backend).await;
    let db = &env.db.db;
    follow_up_on_vip(db).await;
    let handler = AutomationHandler::new(env.pipeline.clone());
    feed(&handler, db, &vip_added(1)).await;
    let queued = actions::for_customer(db, CHAIN, "g1")
        .await
        .expect("actions");
    assert!(
        queued.is_empty(),
        "nothing queued without a manager: {queued:?}"
    );
    let profile = Arc::new(FakeProfile::default());
    let worker = ActionWorker::new(
        env.pipeline.clone(),
        profile.clone(),
        Arc::new(NoWebhooks),
        worker_config(),
    );
    assert_eq!(worker.run_once(Utc::now()).await.expect("round"), 0);

    let owner = event(
        2,
        Payload::OwnerChanged(OwnerChanged {
            customer_id: "g1".into(),
            to_manager_id: "wang".into(),
            ..Default::default()
        }),
    );
    feed(&handler, db, &owner).await;
    feed(&handler, db, &owner).await;
    assert_eq!(worker.run_once(Utc::now()).await.expect("round"), 1);
    let done = actions::for_customer(db, CHAIN, "g1")
        .await
        .expect("actions");
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].status, "done");
    let calls = profile.calls.lock().expect("lock").clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].1.manager_id, "wang");
    assert_eq!(calls[0].1.customer_id, "g1");
}

on_both_backends!(a_follow_up_before_the_owner_waits_for_the_owner);
