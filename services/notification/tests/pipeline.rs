//! The delivery pipeline against real storage and coordination (both backends): de-duplication, one
//! cap budget across sources, quiet-hours deferral, retries to a dead letter, and the webhook
//! provider's signature verified by a local HTTP receiver.

mod common;

use maitre_kit::on_both_backends;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{Duration as ChronoDuration, Utc};
use common::*;
use maitre_kit::testing::Backend;
use maitre_notification::app::delivery::dispatcher::Dispatcher;
use maitre_notification::domain::channel::MessagePurpose;
use maitre_notification::domain::signature::verify_webhook;
use maitre_notification::providers::Providers;
use maitre_notification::providers::webhook::WebhookProvider;
use maitre_notification::storage::messages;
use maitre_proto::notification::v1 as pb;

async fn same_occurrence_twice_makes_one_message(backend: Backend) {
    let env = env(backend).await;
    let db = &env.db.db;
    sms_template(db, "t1", MessagePurpose::Service).await;
    let first = maitre_notification::app::delivery::enqueue(
        db,
        CHAIN,
        &message("g1", "birthday:g1:2026", "t1", MessagePurpose::Service),
        1,
    )
    .await
    .expect("enqueue");
    let second = maitre_notification::app::delivery::enqueue(
        db,
        CHAIN,
        &message("g1", "birthday:g1:2026", "t1", MessagePurpose::Service),
        2,
    )
    .await
    .expect("enqueue");
    assert!(first);
    assert!(!second, "the same occurrence is enqueued once");
    let dispatcher = Dispatcher::new(env.pipeline.clone(), Providers::default(), config());
    dispatcher.run_once(Utc::now()).await.expect("round");
    let row = status_of(db, "birthday:g1:2026").await;
    assert_eq!(row.status, "sent");
    assert_eq!(row.body, "您好，静安店欢迎您。回T退订");
    let all = messages_of(db, "g1").await;
    assert_eq!(all.len(), 1);
}

on_both_backends!(same_occurrence_twice_makes_one_message);

async fn one_cap_budget_across_sources(backend: Backend) {
    let env = env(backend).await;
    let db = &env.db.db;
    sms_template(db, "t1", MessagePurpose::Marketing).await;
    opt_in(db, "g1").await;
    set_policy(
        db,
        pb::ChainPolicy {
            caps: vec![pb::FrequencyCap {
                channel: 1,
                max_messages: 2,
                window_hours: 24,
            }],
            ..Default::default()
        },
    )
    .await;
    let mut campaign = message("g1", "campaign:c1:g1", "t1", MessagePurpose::Marketing);
    campaign.campaign_id = "c1".into();
    let mut automation = message("g1", "tag_added:g1:vip:7", "t1", MessagePurpose::Marketing);
    automation.automation_id = "a1".into();
    let direct = message("g1", "send:r1", "t1", MessagePurpose::Marketing);
    for m in [&campaign, &automation, &direct] {
        assert!(
            maitre_notification::app::delivery::enqueue(db, CHAIN, m, 1)
                .await
                .expect("enqueue")
        );
    }
    let dispatcher = Dispatcher::new(env.pipeline.clone(), Providers::default(), config());
    dispatcher.run_once(Utc::now()).await.expect("round");
    let mut sent = 0;
    let mut capped = 0;
    for m in [&campaign, &automation, &direct] {
        let row = status_of(db, &m.dedup_key).await;
        match (row.status.as_str(), row.reason.as_str()) {
            ("sent", _) => sent += 1,
            ("suppressed", "frequency_cap") => capped += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        (sent, capped),
        (2, 1),
        "campaign, automation and direct sends share one budget"
    );
}

on_both_backends!(one_cap_budget_across_sources);

async fn quiet_hours_defer_not_drop(backend: Backend) {
    let env = env(backend).await;
    let db = &env.db.db;
    sms_template(db, "t1", MessagePurpose::Service).await;
    // A quiet window around the current Shanghai time.
    let now = Utc::now();
    let local = now.with_timezone(&chrono_tz::Asia::Shanghai);
    let minute =
        i32::try_from(chrono::Timelike::hour(&local) * 60 + chrono::Timelike::minute(&local))
            .expect("minute");
    set_policy(
        db,
        pb::ChainPolicy {
            quiet_hours: Some(pb::QuietHours {
                start_minute: (minute + 1440 - 60) % 1440,
                end_minute: (minute + 60) % 1440,
            }),
            ..Default::default()
        },
    )
    .await;
    maitre_notification::app::delivery::enqueue(
        db,
        CHAIN,
        &message("g1", "k1", "t1", MessagePurpose::Service),
        1,
    )
    .await
    .expect("enqueue");
    let dispatcher = Dispatcher::new(env.pipeline.clone(), Providers::default(), config());
    let now = Utc::now();
    dispatcher.run_once(now).await.expect("round");
    let row = status_of(db, "k1").await;
    assert_eq!(
        (row.status.as_str(), row.reason.as_str()),
        ("queued", "quiet_hours")
    );
    assert!(
        row.next_attempt_at_us > now.timestamp_micros(),
        "deferred to the end of quiet hours"
    );
    assert_eq!(row.attempts, 0, "a deferral is not an attempt");
    dispatcher
        .run_once(now + ChronoDuration::minutes(90))
        .await
        .expect("round after quiet hours");
    assert_eq!(status_of(db, "k1").await.status, "sent");
}

on_both_backends!(quiet_hours_defer_not_drop);

async fn retries_then_dead_letter(backend: Backend) {
    let env = env(backend).await;
    let db = &env.db.db;
    sms_template(db, "t1", MessagePurpose::Service).await;
    set_policy(
        db,
        pb::ChainPolicy {
            max_attempts: 3,
            ..Default::default()
        },
    )
    .await;
    maitre_notification::app::delivery::enqueue(
        db,
        CHAIN,
        &message("g1", "k1", "t1", MessagePurpose::Service),
        1,
    )
    .await
    .expect("enqueue");
    let dispatcher = Dispatcher::new(
        env.pipeline.clone(),
        Providers::new(Arc::new(FailingProvider)),
        config(),
    );
    let mut now = Utc::now();
    for _ in 0..6 {
        dispatcher.run_once(now).await.expect("round");
        now += ChronoDuration::hours(1);
    }
    let row = status_of(db, "k1").await;
    assert_eq!(row.status, "dead");
    assert!(
        row.reason.starts_with("attempts_exhausted after 3"),
        "{}",
        row.reason
    );
    assert_eq!(row.attempts, 3);
    let history: Vec<String> = messages::history(db, CHAIN, &row.message_id)
        .await
        .expect("history")
        .into_iter()
        .map(|h| h.status)
        .filter(|s| s != "sending")
        .collect();
    assert_eq!(
        history,
        [
            "queued", "failed", "queued", "failed", "queued", "failed", "dead"
        ]
    );
}

on_both_backends!(retries_then_dead_letter);

/// A webhook call as the receiver saw it: signature header and raw body.
type Received = (String, Vec<u8>);

async fn webhook_is_signed(backend: Backend) {
    use axum::{Router, body::Bytes, http::HeaderMap, routing::post};
    let env = env(backend).await;
    let db = &env.db.db;
    sms_template(db, "t1", MessagePurpose::Service).await;
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let sink = received.clone();
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
                axum::Json(serde_json::json!({ "id": "prov-1" }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let webhook = WebhookProvider::new(
        &format!("http://{addr}/hook"),
        b"s3cret",
        Duration::from_secs(5),
    )
    .expect("provider");
    maitre_notification::app::delivery::enqueue(
        db,
        CHAIN,
        &message("g1", "k1", "t1", MessagePurpose::Service),
        1,
    )
    .await
    .expect("enqueue");
    let dispatcher = Dispatcher::new(
        env.pipeline.clone(),
        Providers::new(Arc::new(webhook)),
        config(),
    );
    dispatcher.run_once(Utc::now()).await.expect("round");
    let row = status_of(db, "k1").await;
    assert_eq!(row.status, "sent");
    assert_eq!(row.provider_message_id, "prov-1");
    let received = received.lock().expect("lock").clone();
    assert_eq!(received.len(), 1);
    let (signature, body) = &received[0];
    verify_webhook(b"s3cret", signature, body, Utc::now().timestamp(), 300)
        .expect("signature verifies");
    assert!(verify_webhook(b"wrong", signature, body, Utc::now().timestamp(), 300).is_err());
    let json: serde_json::Value = serde_json::from_slice(body).expect("json");
    assert_eq!(json["message_id"], row.message_id.as_str());
}

on_both_backends!(webhook_is_signed);
