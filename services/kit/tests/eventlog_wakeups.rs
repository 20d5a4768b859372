//! Followers are woken by a publish, not by a timer; the slow safety poll recovers a
//! wake-up that was lost. Each wait has a deadline well under (or, for the recovery,
//! comfortably over) the safety poll it is set against.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use maitre_kit::{
    eventlog::{ConsumerLeases, EventLog, EventStream, KitTables, PublishedSequenceIndexes},
    on_both_backends,
    testing::{Backend, TestDb},
};
use maitre_proto::events::v1::{CustomerCreated, Event, EventScope, event::Payload};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

struct Migrator;
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(KitTables),
            Box::new(PublishedSequenceIndexes),
            Box::new(ConsumerLeases),
        ]
    }
}

/// Longer than any test here waits for a wake-up: an event seen sooner was woken.
const NEVER: Duration = Duration::from_secs(60);
/// Well under [`NEVER`], and generous for a loaded 2-core machine.
const WOKEN_WITHIN: Duration = Duration::from_secs(3);

/// Appends one event for `customer` and commits, signalling the commit like services do.
async fn publish(log: &EventLog, db: &DatabaseConnection, customer: &str) {
    let txn = db.begin().await.unwrap();
    let scope = EventScope {
        customer_id: customer.into(),
        ..Default::default()
    };
    let payload = Payload::CustomerCreated(CustomerCreated {
        customer_id: customer.into(),
        home_store_id: String::new(),
    });
    log.append(&txn, "chain-a", scope, payload).await.unwrap();
    txn.commit().await.unwrap();
    log.committed();
}

/// Waits (up to 10 s) until `check` holds.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, check: impl Fn() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn start_publisher(log: &Arc<EventLog>) {
    tokio::spawn(log.clone().run_publisher(std::future::pending()));
}

/// The next event of `stream` within `deadline`, or a panic saying `what`.
async fn next_within(stream: &mut EventStream, deadline: Duration, what: &str) -> Event {
    tokio::time::timeout(deadline, stream.next())
        .await
        .unwrap_or_else(|_| panic!("{what}: no event within {deadline:?}"))
        .expect("stream open")
        .expect("no error")
}

fn customer(event: &Event) -> &str {
    match &event.payload {
        Some(Payload::CustomerCreated(c)) => &c.customer_id,
        _ => "",
    }
}

/// A `Watch` that has gone idle (it delivered everything and waits) sees the next event
/// long before its safety poll.
async fn idle_watch_is_woken_by_a_publish(backend: Backend) {
    let t = TestDb::new::<Migrator>(backend).await;
    let log = EventLog::with_safety_poll(t.db.clone(), "profile", None, NEVER);
    start_publisher(&log);
    let mut watch = log.watch(0, None);
    publish(&log, &t.db, "first").await;
    let first = next_within(&mut watch, WOKEN_WITHIN, "first event").await;
    assert_eq!(customer(&first), "first");
    // The watch has delivered everything; the next event must wake it.
    for n in 0..5 {
        let name = format!("later-{n}");
        publish(&log, &t.db, &name).await;
        let event = next_within(&mut watch, WOKEN_WITHIN, &name).await;
        assert_eq!(customer(&event), name);
    }
}

on_both_backends!(idle_watch_is_woken_by_a_publish);

/// On PostgreSQL another replica's publish reaches this replica's idle `Watch` through
/// `LISTEN/NOTIFY`, without Redis and without waiting for the safety poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_replicas_publish_wakes_a_watch_through_notify() {
    let t = TestDb::new::<Migrator>(Backend::Production).await;
    let other = t.reconnect().await;
    let a = EventLog::with_safety_poll(t.db.clone(), "profile", None, NEVER);
    let b = EventLog::with_safety_poll(other.clone(), "profile", None, NEVER);
    start_publisher(&a);
    start_publisher(&b);
    eventually("replica b listens", || async { b.listening() }).await;
    let mut watch = b.watch(0, None);
    for n in 0..3 {
        let name = format!("from-a-{n}");
        publish(&a, &t.db, &name).await;
        let event = next_within(&mut watch, WOKEN_WITHIN, &name).await;
        assert_eq!(customer(&event), name);
    }
}

/// A wake-up that never arrives — another replica with no signal between them (SQLite),
/// or a listener whose connection was dropped (PostgreSQL) — is made up for by the
/// safety poll, and on PostgreSQL the listener comes back.
async fn lost_wakeup_is_recovered_by_the_safety_poll(backend: Backend) {
    let safety_poll = Duration::from_secs(1);
    let t = TestDb::new::<Migrator>(backend).await;
    let other = t.reconnect().await;
    let a = EventLog::with_safety_poll(t.db.clone(), "profile", None, NEVER);
    let b = EventLog::with_safety_poll(other.clone(), "profile", None, safety_poll);
    start_publisher(&a);
    start_publisher(&b);
    if backend == Backend::Production {
        eventually("replica b listens", || async { b.listening() }).await;
        // Drop every listener on this schema's channel (only this test's replicas use it).
        t.db.execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE pid <> pg_backend_pid() AND query LIKE
                   'LISTEN \"maitre_eventlog_' || md5(current_schema()) || '\"%'",
        )
        .await
        .unwrap();
        eventually("replica b notices its listener is gone", || async {
            !b.listening()
        })
        .await;
    }
    let mut watch = b.watch(0, None);
    publish(&a, &t.db, "while-deaf").await;
    let event = next_within(&mut watch, safety_poll * 5, "the safety poll").await;
    assert_eq!(customer(&event), "while-deaf");
    if backend == Backend::Production {
        eventually("replica b listens again", || async { b.listening() }).await;
        publish(&a, &t.db, "heard-again").await;
        let event = next_within(&mut watch, WOKEN_WITHIN, "after relistening").await;
        assert_eq!(customer(&event), "heard-again");
    }
}

on_both_backends!(lost_wakeup_is_recovered_by_the_safety_poll);
