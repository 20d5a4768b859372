//! A re-seed after a Redis flush counts the picks still in flight (issue 20).
//!
//! After a flush the first allocation re-seeds the store's balances from the allocations
//! committed in the database. A pick counted in Redis before the flush, whose transaction
//! commits after that read, was in neither: its manager ended one behind, and the fault
//! journey (`ownership_journeys::ownership_survives_a_killed_replica_and_a_flush`) split
//! its walk-ins 9/10/11. Here a stream contact picks and its transaction is held open, the
//! balances are flushed, and a live contact asks for an allocation: it must wait for the
//! first transaction before it reads the database, and then pick the other manager.
//!
//! PostgreSQL only: on SQLite a write transaction holds the database's one write lock from
//! its first statement, so a second allocation cannot even begin until the first commits.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use maitre_assignment::{app::Engine, events::ProfileEvents};
use maitre_kit::eventlog::{ConsumeError, Consumer, EventHandler};
use maitre_kit::runtime::Runtime;
use maitre_kit::testing::Backend;
use maitre_proto::assignment::v1 as pb;
use maitre_proto::events::v1::{ContactRecorded, Event, event::Payload};
use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement};
use tokio::sync::Notify;

/// Profile's events applied by the real handler, which then waits for `release` before its
/// transaction may commit (a pick made, not yet committed). `picked` carries the
/// transaction's backend pid.
struct Held {
    inner: ProfileEvents,
    picked: tokio::sync::mpsc::Sender<i32>,
    release: Arc<Notify>,
}

#[async_trait::async_trait]
impl EventHandler for Held {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> Result<(), ConsumeError> {
        self.inner.handle(txn, event).await?;
        let pid: i32 = txn
            .query_one_raw(Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT pg_backend_pid() AS pid",
            ))
            .await?
            .ok_or("no pid")?
            .try_get("", "pid")?;
        self.picked.send(pid).await?;
        self.release.notified().await;
        Ok(())
    }
}

fn walk_in(sequence: u64, customer: &str) -> Event {
    Event {
        sequence,
        event_id: format!("outbox-{sequence}"),
        chain_id: CHAIN.into(),
        source: "profile".into(),
        payload: Some(Payload::ContactRecorded(ContactRecorded {
            event_id: format!("walk-{customer}"),
            customer_id: customer.to_owned(),
            store_id: STORE.to_owned(),
            amount_fen: 10_000,
            occurred_at: Some(ts(at(0))),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Whether some session waits for a lock the transaction of backend `pid` holds.
async fn blocked_by(db: &impl ConnectionTrait, pid: i32) -> bool {
    let sql =
        "SELECT count(*) AS waiting FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))";
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            sql,
            [pid.into()],
        ))
        .await
        .expect("pg_blocking_pids")
        .expect("a row");
    row.try_get::<i64>("", "waiting").expect("count") > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reseed_after_a_flush_counts_a_pick_still_in_flight() {
    let h = Harness::start(Backend::Production, 1).await;
    let mut api = h.api();
    for manager in ["m1", "m2"] {
        add_manager(&mut api, manager, &[STORE], 100).await;
    }
    set_policy(
        &mut api,
        pb::Policy {
            strategy: pb::Strategy::DailyEvenSplit as i32,
            ..Default::default()
        },
        &["strategy"],
    )
    .await;

    // A stream contact picks a manager; its transaction stays open.
    let runtime = Runtime::start::<maitre_assignment::storage::Migrator>(h.config.config.clone())
        .await
        .expect("runtime");
    let (picked, mut first_pid) = tokio::sync::mpsc::channel(1);
    let release = Arc::new(Notify::new());
    let held = Held {
        inner: ProfileEvents {
            engine: Engine::new(runtime.clone()),
        },
        picked,
        release: release.clone(),
    };
    let consumer = Consumer::new("assignment<-profile", runtime.db.clone());
    let first = tokio::spawn(async move {
        consumer
            .apply(&walk_in(1, "guest-1"), &held)
            .await
            .map(|applied| format!("{applied:?}"))
            .map_err(|error| error.to_string())
    });
    let first_pid = first_pid.recv().await.expect("the first contact picked");

    // Redis loses the balances while that pick is uncommitted.
    let redis_url = h.config.config.redis_url.clone().expect("Redis");
    maitre_kit::testing::clear_redis_prefix(&redis_url, &h.coordination_prefix()).await;

    // A live walk-in needs the balances again: its re-seed must wait for the open pick.
    let mut live_api = h.api();
    let second = tokio::spawn(async move {
        contact(
            &mut live_api,
            Contact {
                customer: "guest-2",
                via: "",
                amount_fen: 10_000,
                at: at(60),
                event: "walk-guest-2",
            },
        )
        .await
    });
    // Until it waits for the open transaction (with the fix, to re-seed; without it, on the
    // row of the manager it picked again), or is done.
    tokio::time::timeout(Duration::from_secs(20), async {
        while !second.is_finished() && !blocked_by(&runtime.db, first_pid).await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the live contact waits for the open pick or finishes within 20 s");
    release.notify_one();
    assert_eq!(
        first.await.expect("first task").expect("first applied"),
        "Applied"
    );
    second.await.expect("second contact");

    let owners = [
        ownership(&mut api, "guest-1").await.manager_id,
        ownership(&mut api, "guest-2").await.manager_id,
    ];
    assert!(owners.iter().all(|owner| !owner.is_empty()), "{owners:?}");
    assert_ne!(
        owners[0], owners[1],
        "the re-seed counted the first pick: the second walk-in goes to the other manager"
    );
}
