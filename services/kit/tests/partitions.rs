//! Consumers shared by replicas: each guest's partition applied by one replica at a time
//! under a fenced lease, every event once, through a replica dying and one joining.

use maitre_kit::on_both_backends;
use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use maitre_kit::{
    eventlog::{
        ConsumeError, Consumer, ConsumerLeases, EventHandler, EventLog, Fence, Fenced, KitTables,
        LeaseTiming, Partition, PartitionedConsumer, PublishedSequenceIndexes,
        partition::ensure_layout,
    },
    testing::{Backend, TestDb},
};
use maitre_proto::events::v1::{CustomerCreated, Event, EventScope, StoreChanged, event::Payload};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};
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

const CONSUMER: &str = "tagging<-profile";

fn exec(db: &impl ConnectionTrait, sql: &str, values: Vec<sea_orm::Value>) -> sea_orm::Statement {
    sea_orm::Statement::from_sql_and_values(db.get_database_backend(), sql, values)
}

async fn create_effects_table(db: &DatabaseConnection, backend: Backend) {
    let id = match backend {
        Backend::Production => "BIGSERIAL PRIMARY KEY",
        Backend::Embedded => "INTEGER PRIMARY KEY AUTOINCREMENT",
    };
    db.execute_unprepared(&format!(
        "CREATE TABLE effects (id {id}, seq BIGINT NOT NULL, customer TEXT NOT NULL,
         part INTEGER NOT NULL, replica TEXT NOT NULL, lease_holder TEXT NOT NULL,
         epoch BIGINT NOT NULL)"
    ))
    .await
    .unwrap();
}

/// Records each event it applies with the replica applying it and the lease in force in
/// the same transaction (the fence holds the lease row, so that is the lease it commits
/// under).
struct Recorder {
    replica: String,
    count: u32,
}

#[async_trait::async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> Result<(), ConsumeError> {
        let part = Partition {
            index: 0,
            count: self.count,
        }
        .of(event)
        .unwrap_or(0);
        let lease = txn
            .query_one_raw(exec(
                txn,
                "SELECT holder, epoch FROM kit_consumer_lease WHERE consumer = $1 AND part = $2",
                vec![CONSUMER.into(), (part as i32).into()],
            ))
            .await?
            .ok_or("no lease row")?;
        let holder: String = lease.try_get_by_index(0)?;
        let epoch: i64 = lease.try_get_by_index(1)?;
        let customer = event
            .scope
            .as_ref()
            .map(|s| s.customer_id.clone())
            .unwrap_or_default();
        txn.execute_raw(exec(
            txn,
            "INSERT INTO effects (seq, customer, part, replica, lease_holder, epoch)
             VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                (event.sequence as i64).into(),
                customer.into(),
                (part as i32).into(),
                self.replica.clone().into(),
                holder.into(),
                epoch.into(),
            ],
        ))
        .await?;
        // A little work per event, so consumption lasts through the kill and the join.
        tokio::time::sleep(Duration::from_micros(300)).await;
        Ok(())
    }
}

fn about(customer: &str) -> (EventScope, Payload) {
    (
        EventScope {
            customer_id: customer.into(),
            ..EventScope::default()
        },
        Payload::CustomerCreated(CustomerCreated {
            customer_id: customer.into(),
            home_store_id: String::new(),
        }),
    )
}

fn store_change() -> (EventScope, Payload) {
    (
        EventScope::default(),
        Payload::StoreChanged(StoreChanged::default()),
    )
}

struct Effect {
    id: i64,
    seq: i64,
    customer: String,
    part: i32,
    replica: String,
    lease_holder: String,
    epoch: i64,
}

async fn effects(db: &DatabaseConnection) -> Vec<Effect> {
    db.query_all_raw(exec(
        db,
        "SELECT id, seq, customer, part, replica, lease_holder, epoch FROM effects ORDER BY id",
        vec![],
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|r| Effect {
        id: r.try_get_by_index(0).unwrap(),
        seq: r.try_get_by_index(1).unwrap(),
        customer: r.try_get_by_index(2).unwrap(),
        part: r.try_get_by_index(3).unwrap(),
        replica: r.try_get_by_index(4).unwrap(),
        lease_holder: r.try_get_by_index(5).unwrap(),
        epoch: r.try_get_by_index(6).unwrap(),
    })
    .collect()
}

/// Polls `effects` until `done` holds of them, or fails after a minute naming `what`.
async fn wait_for(db: &DatabaseConnection, what: &str, done: impl Fn(&[Effect]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = effects(db).await;
        if done(&seen) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} ({} effects)",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn start_replica(
    name: &str,
    count: u32,
    sink: &DatabaseConnection,
    log: &Arc<EventLog>,
) -> tokio::task::JoinHandle<()> {
    let log = Arc::clone(log);
    let connect = move |from: u64| {
        let stream = log.watch(from, None);
        async move { Ok::<_, ConsumeError>(stream) }
    };
    let handler = Arc::new(Recorder {
        replica: name.to_owned(),
        count,
    });
    let replica = PartitionedConsumer::new(
        CONSUMER,
        sink.clone(),
        count,
        name,
        LeaseTiming {
            ttl: Duration::from_millis(800),
            renew_every: Duration::from_millis(100),
        },
    );
    tokio::spawn(replica.run(connect, handler, std::future::pending()))
}

/// Three replicas consume while events keep coming; the one applying at that moment is
/// killed (its leases left to expire), and a fourth joins. Every event is applied once,
/// each by the holder of its partition's lease at commit, each partition's epochs only
/// grow, each guest's events apply in order, and stream-wide events stay barriers.
async fn replicas_share_partitions_through_a_kill_and_a_join(backend: Backend) {
    let count = match backend {
        Backend::Production => 4,
        Backend::Embedded => 1,
    };
    let source = TestDb::new::<Migrator>(backend).await;
    let sink = TestDb::new::<Migrator>(backend).await;
    create_effects_table(&sink.db, backend).await;
    let log = EventLog::new(source.db.clone(), "profile", None);
    tokio::spawn(log.clone().run_publisher(std::future::pending()));

    let (stop_producing, producing) = tokio::sync::watch::channel(true);
    let producer = {
        let log = log.clone();
        let db = source.db.clone();
        tokio::spawn(async move {
            let mut appended = 0u64;
            let mut round = 0u64;
            while *producing.borrow() {
                let txn = db.begin().await.unwrap();
                for i in 0..20u64 {
                    let (scope, payload) = if (round * 20 + i).is_multiple_of(97) {
                        store_change()
                    } else {
                        about(&format!("c{}", (round * 20 + i) % 61))
                    };
                    log.append(&txn, "chain-a", scope, payload).await.unwrap();
                }
                txn.commit().await.unwrap();
                log.committed();
                appended += 20;
                round += 1;
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
            appended
        })
    };

    let mut replicas: BTreeMap<String, tokio::task::JoinHandle<()>> = BTreeMap::new();
    for name in ["r0", "r1", "r2"] {
        replicas.insert(name.into(), start_replica(name, count, &sink.db, &log));
    }
    wait_for(&sink.db, "a few hundred events applied", |e| e.len() >= 300).await;
    // Kill whoever applied last: it surely holds a partition.
    let victim = effects(&sink.db).await.last().unwrap().replica.clone();
    replicas.remove(&victim).unwrap().abort();
    let at_kill = effects(&sink.db).await.len();
    wait_for(&sink.db, "consumption to go on after the kill", |e| {
        e.len() >= at_kill + 300
    })
    .await;
    // The newcomer sorts first, so it is owed a share even of a single partition.
    replicas.insert("a3".into(), start_replica("a3", count, &sink.db, &log));
    wait_for(&sink.db, "the new replica to apply events", |e| {
        e.iter().any(|e| e.replica == "a3")
    })
    .await;
    stop_producing.send(false).unwrap();
    let appended = producer.await.unwrap() as usize;
    wait_for(&sink.db, "every event applied", |e| e.len() >= appended).await;
    // Anything beyond would be a second application, arriving late: wait one more beat of
    // the consumers' own (an event appended now and applied proves they went on).
    let txn = source.db.begin().await.unwrap();
    let (scope, payload) = about("last");
    log.append(&txn, "chain-a", scope, payload).await.unwrap();
    txn.commit().await.unwrap();
    log.committed();
    wait_for(&sink.db, "the closing event", |e| {
        e.iter().any(|e| e.customer == "last")
    })
    .await;

    let all = effects(&sink.db).await;
    assert_eq!(all.len(), appended + 1, "each event applied exactly once");
    let mut seqs: Vec<i64> = all.iter().map(|e| e.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), all.len(), "no event applied twice");
    assert_eq!(seqs, (1..=all.len() as i64).collect::<Vec<_>>());

    let mut last_epoch: BTreeMap<i32, i64> = BTreeMap::new();
    for e in &all {
        // Fencing: the replica that applied the event held its partition's lease then.
        assert_eq!(
            e.replica, e.lease_holder,
            "seq {} applied without the lease",
            e.seq
        );
        let epoch = last_epoch.entry(e.part).or_insert(0);
        assert!(
            e.epoch >= *epoch,
            "partition {} went back from epoch {} to {} at seq {}",
            e.part,
            epoch,
            e.epoch,
            e.seq
        );
        *epoch = e.epoch;
    }
    // Each guest's events in stream order.
    let mut last_seq: BTreeMap<&str, i64> = BTreeMap::new();
    for e in all.iter().filter(|e| !e.customer.is_empty()) {
        let last = last_seq.entry(e.customer.as_str()).or_insert(0);
        assert!(
            e.seq > *last,
            "{}: seq {} after {}",
            e.customer,
            e.seq,
            last
        );
        *last = e.seq;
    }
    // A stream-wide event comes after every earlier event and before every later one.
    for barrier in all.iter().filter(|e| e.customer.is_empty()) {
        for e in &all {
            assert_eq!(
                e.seq < barrier.seq,
                e.id < barrier.id,
                "seq {} crossed the barrier at seq {}",
                e.seq,
                barrier.seq
            );
        }
    }
    // Both the killed replica and the newcomer took part; everyone's work was fenced.
    assert!(all.iter().any(|e| e.replica == victim));
    assert!(all.iter().any(|e| e.replica == "a3"));
    for (_, replica) in replicas {
        replica.abort();
    }
}
on_both_backends!(replicas_share_partitions_through_a_kill_and_a_join);

/// A replica whose lease was taken over commits nothing, even mid-stream.
async fn a_replica_that_lost_its_lease_commits_nothing(backend: Backend) {
    let source = TestDb::new::<Migrator>(backend).await;
    let sink = TestDb::new::<Migrator>(backend).await;
    create_effects_table(&sink.db, backend).await;
    let log = EventLog::new(source.db.clone(), "profile", None);
    let txn = source.db.begin().await.unwrap();
    for i in 0..4 {
        let (scope, payload) = about(&format!("c{i}"));
        log.append(&txn, "chain-a", scope, payload).await.unwrap();
    }
    txn.commit().await.unwrap();
    log.publish_pending().await.unwrap();
    let events = log.read_after(0, None).await.unwrap();
    assert_eq!(ensure_layout(&sink.db, CONSUMER, 1).await.unwrap(), 1);
    // A second start with another count keeps the recorded layout.
    assert_eq!(ensure_layout(&sink.db, CONSUMER, 8).await.unwrap(), 1);

    let lease_to = |holder: &'static str, epoch: i64| {
        let db = sink.db.clone();
        async move {
            db.execute_raw(exec(
                &db,
                "UPDATE kit_consumer_lease SET holder = $1, epoch = $2 WHERE consumer = $3",
                vec![holder.into(), epoch.into(), CONSUMER.into()],
            ))
            .await
            .unwrap();
        }
    };
    let partition = Partition { index: 0, count: 1 };
    let as_holder = |holder: &str, epoch: i64| {
        Consumer::partitioned(
            CONSUMER,
            sink.db.clone(),
            partition,
            Fence {
                holder: holder.into(),
                epoch,
            },
        )
    };
    let recorder = |replica: &str| Recorder {
        replica: replica.into(),
        count: 1,
    };
    lease_to("old", 1).await;
    let old = as_holder("old", 1);
    assert_eq!(
        old.apply_run(&events[..2], &recorder("old")).await.unwrap(),
        2
    );
    // Taken over: the old holder's next run is refused whole.
    lease_to("new", 2).await;
    let refused = old
        .apply_run(&events[2..], &recorder("old"))
        .await
        .unwrap_err();
    assert!(refused.is::<Fenced>(), "{refused}");
    assert_eq!(old.cursor().await.unwrap(), 2);
    let new = as_holder("new", 2);
    assert_eq!(new.apply_run(&events, &recorder("new")).await.unwrap(), 2);
    let all = effects(&sink.db).await;
    let by: Vec<(i64, &str)> = all.iter().map(|e| (e.seq, e.replica.as_str())).collect();
    assert_eq!(by, [(1, "old"), (2, "old"), (3, "new"), (4, "new")]);
    // The unpartitioned view of the consumer's cursor reads the same position.
    assert_eq!(
        Consumer::new(CONSUMER, sink.db.clone())
            .cursor()
            .await
            .unwrap(),
        4
    );
}
on_both_backends!(a_replica_that_lost_its_lease_commits_nothing);
