//! The scheduled lock-expiry sweep releases the locks of guests who never came back, keeps
//! the others, records the reason, and changes nothing when run again.

mod common;

use chrono::{Duration, Utc};
use common::*;
use maitre_assignment::{app::Engine, storage::Migrator};
use maitre_kit::on_both_backends;
use maitre_kit::runtime::Runtime;
use maitre_kit::testing::Backend;
use maitre_proto::assignment::v1 as pb;

async fn sweep_releases_only_due_locks(backend: Backend) {
    let h = Harness::start(backend, 1).await;
    let mut api = h.api();
    add_manager(&mut api, "wang", &[STORE], 0).await;
    set_policy(
        &mut api,
        pb::Policy {
            value_lock_threshold_fen: 100_000,
            lock_expiry_days: 30,
            ..Default::default()
        },
        &["value_lock_threshold_fen", "lock_expiry_days"],
    )
    .await;
    let paid = |customer: &'static str, event: &'static str, at| Contact {
        customer,
        via: "wang",
        amount_fen: 150_000,
        at,
        event,
    };
    // Last visit long ago (2026-03-02) and yesterday.
    contact(&mut api, paid("gone", "v-gone", at(0))).await;
    contact(
        &mut api,
        paid("regular", "v-regular", Utc::now() - Duration::days(1)),
    )
    .await;
    assert!(ownership(&mut api, "gone").await.locked);
    assert!(ownership(&mut api, "regular").await.locked);

    // A second process on the same database and coordination, as another replica would be.
    let runtime = Runtime::start::<Migrator>(h.config.config.clone())
        .await
        .expect("runtime");
    let engine = Engine::new(runtime);
    assert_eq!(engine.expire_due_locks(Utc::now()).await.expect("sweep"), 1);

    let gone = ownership(&mut api, "gone").await;
    assert!(!gone.locked, "30 days without a visit: the lock expired");
    assert_eq!(gone.manager_id, "wang", "expiry keeps the owner");
    let why = history(&mut api, "gone").await;
    assert_eq!(why.last().map(reason), Some(pb::Reason::Expiry), "{why:?}");
    assert!(
        ownership(&mut api, "regular").await.locked,
        "a recent visit keeps the lock"
    );

    assert_eq!(
        engine
            .expire_due_locks(Utc::now())
            .await
            .expect("sweep again"),
        0,
        "a second sweep changes nothing"
    );
}

on_both_backends!(sweep_releases_only_due_locks);
