//! The event log on both backends: order, gap-free sequences, late commits, replays.

use maitre_kit::on_both_backends;
use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use futures::StreamExt;
use maitre_kit::{
    eventlog::{
        ConsumeError, Consumer, ConsumerLeases, EventHandler, EventLog, KitTables,
        PublishedSequenceIndexes,
    },
    testing::{Backend, TestDb},
};
use maitre_proto::events::v1::{CustomerCreated, Event, EventScope, event::Payload};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};
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

fn created(customer: &str) -> Payload {
    Payload::CustomerCreated(CustomerCreated {
        customer_id: customer.into(),
        home_store_id: String::new(),
    })
}

fn scope(customer: &str) -> EventScope {
    EventScope {
        customer_id: customer.into(),
        ..Default::default()
    }
}

fn customer_of(event: &Event) -> &str {
    match &event.payload {
        Some(Payload::CustomerCreated(c)) => &c.customer_id,
        _ => "",
    }
}

async fn append_committed(
    log: &EventLog,
    db: &sea_orm::DatabaseConnection,
    chain: &str,
    customer: &str,
) {
    let txn = db.begin().await.unwrap();
    log.append(&txn, chain, scope(customer), created(customer))
        .await
        .unwrap();
    txn.commit().await.unwrap();
}

async fn read_all(log: &Arc<EventLog>, chain: Option<&str>) -> Vec<Event> {
    log.read_after(0, chain).await.unwrap()
}

async fn publishes_in_order_without_gaps(backend: Backend) {
    let t = TestDb::new::<Migrator>(backend).await;
    let log = EventLog::new(t.db.clone(), "profile", None);
    for i in 0..5 {
        append_committed(&log, &t.db, "chain-a", &format!("c{i}")).await;
    }
    // A rolled-back transaction leaves no gap.
    let txn = t.db.begin().await.unwrap();
    log.append(&txn, "chain-a", scope("ghost"), created("ghost"))
        .await
        .unwrap();
    txn.rollback().await.unwrap();
    append_committed(&log, &t.db, "chain-b", "other").await;
    assert_eq!(log.publish_pending().await.unwrap(), 6);
    let events = read_all(&log, None).await;
    let sequences: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(
        events.iter().map(customer_of).collect::<Vec<_>>(),
        vec!["c0", "c1", "c2", "c3", "c4", "other"]
    );
    assert!(
        events
            .iter()
            .all(|e| e.source == "profile" && !e.event_id.is_empty())
    );
    // Scoped readers see their chain only.
    let b = read_all(&log, Some("chain-b")).await;
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].chain_id, "chain-b");
    // Publishing again numbers nothing twice.
    assert_eq!(log.publish_pending().await.unwrap(), 0);
}

on_both_backends!(publishes_in_order_without_gaps);

/// A bulk append spanning several INSERT statements publishes every event, in order, once.
async fn bulk_append_keeps_order(backend: Backend) {
    let t = TestDb::new::<Migrator>(backend).await;
    let log = EventLog::new(t.db.clone(), "profile", None);
    let count = maitre_kit::eventlog::APPEND_CHUNK * 2 + 7;
    let txn = t.db.begin().await.unwrap();
    let ids = log
        .append_all(
            &txn,
            "chain-a",
            (0..count).map(|i| {
                let customer = format!("c{i:05}");
                (scope(&customer), created(&customer))
            }),
        )
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(ids.len(), count);
    assert_eq!(log.publish_pending().await.unwrap(), count as u64);
    let mut events = Vec::new();
    loop {
        let after = events.last().map_or(0, |e: &Event| e.sequence);
        let page = log.read_after(after, Some("chain-a")).await.unwrap();
        if page.is_empty() {
            break;
        }
        events.extend(page);
    }
    assert_eq!(events.len(), count);
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.sequence, i as u64 + 1);
        assert_eq!(customer_of(event), format!("c{i:05}"));
        assert_eq!(event.event_id, ids[i]);
    }
}

on_both_backends!(bulk_append_keeps_order);

/// The pitfall: a transaction that took its insert id first but commits last must still
/// be delivered to a reader that already consumed the rows committed before it.
#[tokio::test]
async fn a_transaction_that_commits_late_is_never_skipped_postgres() {
    let t = TestDb::new::<Migrator>(Backend::Production).await;
    let log = EventLog::new(t.db.clone(), "profile", None);
    let late = t.db.begin().await.unwrap();
    log.append(&late, "chain-a", scope("late"), created("late"))
        .await
        .unwrap(); // lower insert id
    append_committed(&log, &t.db, "chain-a", "early").await;
    log.publish_pending().await.unwrap();
    let seen = read_all(&log, None).await;
    assert_eq!(
        seen.iter().map(customer_of).collect::<Vec<_>>(),
        vec!["early"]
    );
    let cursor = seen[0].sequence;
    late.commit().await.unwrap();
    log.publish_pending().await.unwrap();
    let next = log.read_after(cursor, None).await.unwrap();
    assert_eq!(
        next.iter().map(customer_of).collect::<Vec<_>>(),
        vec!["late"]
    );
    assert_eq!(next[0].sequence, cursor + 1);
}

/// On PostgreSQL the sequence indexes leave unnumbered rows out, and still keep a sequence
/// from being handed out twice.
#[tokio::test]
async fn sequence_indexes_cover_published_rows_only_postgres() {
    let t = TestDb::new::<Migrator>(Backend::Production).await;
    let rows =
        t.db.query_all_raw(sea_orm::Statement::from_string(
            t.db.get_database_backend(),
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'kit_outbox' \
             AND schemaname = current_schema() AND indexdef LIKE '%(seq)%' ORDER BY indexname",
        ))
        .await
        .unwrap();
    let defs: Vec<String> = rows
        .iter()
        .map(|r| r.try_get_by_index(0).unwrap())
        .collect();
    assert_eq!(defs.len(), 1, "{defs:?}");
    assert!(defs[0].contains("UNIQUE") && defs[0].contains("WHERE (seq IS NOT NULL)"));
    let by_chain =
        t.db.query_all_raw(sea_orm::Statement::from_string(
            t.db.get_database_backend(),
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'kit_outbox' \
             AND schemaname = current_schema() AND indexdef LIKE '%(chain_id, seq)%'",
        ))
        .await
        .unwrap();
    assert_eq!(by_chain.len(), 1);
    let def: String = by_chain[0].try_get_by_index(0).unwrap();
    assert!(def.contains("WHERE (seq IS NOT NULL)"), "{def}");

    let log = EventLog::new(t.db.clone(), "profile", None);
    append_committed(&log, &t.db, "chain-a", "c1").await;
    append_committed(&log, &t.db, "chain-a", "c2").await;
    let twice =
        t.db.execute_unprepared("UPDATE kit_outbox SET seq = 7")
            .await;
    assert!(twice.is_err(), "two rows took sequence 7");
}

/// Two publishers (two replicas) racing never hand out a sequence twice.
async fn concurrent_publishers_never_collide(backend: Backend) {
    let t = TestDb::new::<Migrator>(backend).await;
    let other = t.reconnect().await;
    let a = EventLog::new(t.db.clone(), "profile", None);
    let b = EventLog::new(other.clone(), "profile", None);
    let writers = (0..4).map(|w| {
        let (log, db) = if w % 2 == 0 {
            (a.clone(), t.db.clone())
        } else {
            (b.clone(), other.clone())
        };
        tokio::spawn(async move {
            for i in 0..25 {
                append_committed(&log, &db, "chain-a", &format!("w{w}-{i}")).await;
                if i % 5 == 0 {
                    log.publish_pending().await.unwrap();
                }
            }
        })
    });
    for w in writers.collect::<Vec<_>>() {
        w.await.unwrap();
    }
    a.publish_pending().await.unwrap();
    b.publish_pending().await.unwrap();
    let mut all = Vec::new();
    let mut cursor = 0;
    loop {
        let page = a.read_after(cursor, None).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = last.sequence;
        all.extend(page);
    }
    assert_eq!(all.len(), 100);
    assert!(
        all.iter()
            .enumerate()
            .all(|(i, e)| e.sequence == i as u64 + 1),
        "gap-free 1..=100"
    );
}

on_both_backends!(concurrent_publishers_never_collide);

struct CountingHandler {
    applied: AtomicUsize,
}

#[async_trait::async_trait]
impl EventHandler for CountingHandler {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> Result<(), ConsumeError> {
        // The effect is written in the cursor's transaction.
        txn.execute_raw(maitre_kit::db::stmt(
            txn,
            "INSERT INTO kit_idempotency (chain_id, scope, request_id, response, created_at_us) VALUES ($1, 'effect', $2, $3, 0)",
            [event.chain_id.clone().into(), event.event_id.clone().into(), vec![0u8].into()],
        ))
        .await?;
        self.applied.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

async fn count_effects(db: &impl ConnectionTrait) -> i64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM kit_idempotency WHERE scope = 'effect'",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn a_replay_changes_nothing(backend: Backend) {
    let source = TestDb::new::<Migrator>(backend).await;
    let sink = TestDb::new::<Migrator>(backend).await;
    let log = EventLog::new(source.db.clone(), "profile", None);
    for i in 0..3 {
        append_committed(&log, &source.db, "chain-a", &format!("c{i}")).await;
    }
    log.publish_pending().await.unwrap();
    let events = read_all(&log, None).await;
    let consumer = Consumer::new("tagging<-profile", sink.db.clone());
    let handler = CountingHandler {
        applied: AtomicUsize::new(0),
    };
    for e in &events {
        consumer.apply(e, &handler).await.unwrap();
    }
    // The whole stream again, as after a reconnect from an older position.
    for e in &events {
        consumer.apply(e, &handler).await.unwrap();
    }
    assert_eq!(handler.applied.load(Ordering::SeqCst), 3);
    assert_eq!(count_effects(&sink.db).await, 3);
    assert_eq!(consumer.cursor().await.unwrap(), 3);
    // A gap is refused, not silently skipped.
    let mut ahead = events[0].clone();
    ahead.sequence = 10;
    assert!(consumer.apply(&ahead, &handler).await.is_err());
    assert_eq!(consumer.cursor().await.unwrap(), 3);
}

on_both_backends!(a_replay_changes_nothing);

async fn watch_streams_history_then_live(backend: Backend) {
    let t = TestDb::new::<Migrator>(backend).await;
    let log = EventLog::new(t.db.clone(), "assignment", None);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let publisher = tokio::spawn(log.clone().run_publisher(async {
        let _ = stopped.await;
    }));
    append_committed(&log, &t.db, "chain-a", "before").await;
    log.committed();
    let mut stream = log.watch(0, Some("chain-a".into()));
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(customer_of(&first), "before");
    append_committed(&log, &t.db, "chain-b", "elsewhere").await;
    append_committed(&log, &t.db, "chain-a", "after").await;
    log.committed();
    let second = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        customer_of(&second),
        "after",
        "other chains are filtered out"
    );
    assert_eq!(second.sequence, 3);
    let _ = stop.send(());
    publisher.await.unwrap();
}

on_both_backends!(watch_streams_history_then_live);

/// What lies after a follower's cursor: counted per chain, with the first pending event's
/// append time, and nothing once the cursor reaches the head.
async fn the_head_says_what_lies_after_a_cursor(backend: Backend) {
    let t = TestDb::new::<Migrator>(backend).await;
    let log = EventLog::new(t.db.clone(), "profile", None);
    let before = chrono::Utc::now().timestamp_micros();
    for i in 0..4 {
        append_committed(&log, &t.db, "chain-a", &format!("a{i}")).await;
    }
    append_committed(&log, &t.db, "chain-b", "b0").await;
    let after = chrono::Utc::now().timestamp_micros();
    // Committed rows not yet numbered have no sequence (the head stays 0) but are pending:
    // a follower that counted only numbered rows would look caught up between an import's
    // commit and its numbering (issue 20, item 9).
    let unpublished = log.head_after(0, None).await.unwrap();
    assert_eq!(
        (unpublished.head_sequence, unpublished.pending_events),
        (0, 5)
    );
    let oldest = unpublished.oldest_pending_us.expect("an event is pending");
    assert!((before..=after).contains(&oldest), "{oldest}");
    let a = log.head_after(0, Some("chain-a")).await.unwrap();
    assert_eq!((a.head_sequence, a.pending_events), (0, 4));
    assert_eq!(log.publish_pending().await.unwrap(), 5);

    let all = log.head_after(1, None).await.unwrap();
    assert_eq!((all.head_sequence, all.pending_events), (5, 4));
    let oldest = all.oldest_pending_us.expect("an event is pending");
    assert!((before..=after).contains(&oldest), "{oldest}");

    let a = log.head_after(1, Some("chain-a")).await.unwrap();
    assert_eq!((a.head_sequence, a.pending_events), (4, 3));
    let b = log.head_after(1, Some("chain-b")).await.unwrap();
    assert_eq!((b.head_sequence, b.pending_events), (5, 1));
    let nobody = log.head_after(0, Some("chain-c")).await.unwrap();
    assert_eq!(
        (
            nobody.head_sequence,
            nobody.pending_events,
            nobody.oldest_pending_us
        ),
        (0, 0, None)
    );
    let caught_up = log.head_after(5, None).await.unwrap();
    assert_eq!(
        (caught_up.pending_events, caught_up.oldest_pending_us),
        (0, None)
    );
    // A cursor at the head with one more committed, unnumbered row: one pending.
    let later = chrono::Utc::now().timestamp_micros();
    append_committed(&log, &t.db, "chain-b", "b1").await;
    let behind = log.head_after(5, Some("chain-b")).await.unwrap();
    assert_eq!((behind.head_sequence, behind.pending_events), (5, 1));
    assert!(behind.oldest_pending_us.is_some_and(|us| us >= later));
    assert_eq!(
        log.head_after(5, Some("chain-a"))
            .await
            .unwrap()
            .pending_events,
        0
    );
}
on_both_backends!(the_head_says_what_lies_after_a_cursor);

/// Fails on the customer named "poison" until `healed`.
struct PoisonedHandler {
    inner: CountingHandler,
    healed: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl EventHandler for PoisonedHandler {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> Result<(), ConsumeError> {
        if customer_of(event) == "poison" && !self.healed.load(Ordering::SeqCst) {
            return Err("the poisoned event fails".into());
        }
        self.inner.handle(txn, event).await
    }
}

/// Runs of events commit whole or not at all: a run that fails is retried event by event,
/// so the events before the failing one apply, its own effects and the later ones' roll
/// back, and once it heals every event has its effect exactly once.
async fn runs_apply_whole_and_isolate_a_failing_event(backend: Backend) {
    let source = TestDb::new::<Migrator>(backend).await;
    let sink = TestDb::new::<Migrator>(backend).await;
    let log = EventLog::new(source.db.clone(), "profile", None);
    for customer in ["c0", "c1", "c2", "poison", "c4", "c5"] {
        append_committed(&log, &source.db, "chain-a", customer).await;
    }
    log.publish_pending().await.unwrap();
    let events = read_all(&log, None).await;
    let consumer = Consumer::new("tagging<-profile", sink.db.clone());

    // A run of three applies in one go; the same run again is all replays.
    let counting = CountingHandler {
        applied: AtomicUsize::new(0),
    };
    assert_eq!(
        consumer.apply_run(&events[..2], &counting).await.unwrap(),
        2
    );
    assert_eq!(
        consumer.apply_run(&events[..2], &counting).await.unwrap(),
        0
    );
    assert_eq!(consumer.cursor().await.unwrap(), 2);

    let handler = Arc::new(PoisonedHandler {
        inner: CountingHandler {
            applied: AtomicUsize::new(0),
        },
        healed: std::sync::atomic::AtomicBool::new(false),
    });
    let all = events.clone();
    let connect = move |from: u64| {
        let rest: Vec<Result<Event, tonic::Status>> = all
            .iter()
            .filter(|e| e.sequence > from)
            .cloned()
            .map(Ok)
            .collect();
        async move {
            // Everything ready at once (a backlog), then the stream stays open.
            Ok::<_, ConsumeError>(futures::stream::iter(rest).chain(futures::stream::pending()))
        }
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(consumer.clone().run(connect, handler.clone(), async {
        let _ = stopped.await;
    }));
    // Proof of progress: the cursor reaches the event before the poisoned one.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while consumer.cursor().await.unwrap() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "c2 never applied");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The failing run rolled back whole: c0..c2 have their effect once, nothing later does.
    assert_eq!(count_effects(&sink.db).await, 3);
    assert_eq!(consumer.cursor().await.unwrap(), 3);

    handler.healed.store(true, Ordering::SeqCst);
    while consumer.cursor().await.unwrap() < 6 {
        assert!(tokio::time::Instant::now() < deadline, "never caught up");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(count_effects(&sink.db).await, 6);
    let _ = stop.send(());
    running.await.unwrap();
}
on_both_backends!(runs_apply_whole_and_isolate_a_failing_event);
