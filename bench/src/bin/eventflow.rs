//! `cargo run --release -p maitre-bench --bin eventflow` (issue 22), two parts:
//! - catch-up: the whole system imports a history through profile's batch API, and each
//!   consumer's catch-up rate is set against profile's import rate in the same run
//!   (`maitre_bench::catchup`);
//! - at rest: how long an event takes from its commit to a consumer's applied effect, on each
//!   backend ("woken, not polling"), and the CPU the event log's idle machinery costs. This
//!   part uses only `EventLog::new`, the `Watch` stream and `Consumer::run`, so the same file
//!   measures the code before and after the wake-ups changed.
//!
//! `MAITRE_BENCH_EVENTFLOW=catchup` or `=latency` runs one part. See `bench/README.md`.

use std::{sync::Arc, time::Duration};

use anyhow::Result;
use maitre_kit::{
    eventlog::{
        ConsumeError, Consumer, ConsumerLeases, EventHandler, EventLog, KitTables,
        PublishedSequenceIndexes,
    },
    testing::{Backend, TestDb},
};
use maitre_proto::events::v1::{CustomerCreated, Event, EventScope, event::Payload};
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use tokio::{sync::mpsc, time::Instant};

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

/// Events timed per row, one at a time (each waits for the previous one's effect).
const EVENTS: usize = 200;
/// How long the idle row watches the process doing nothing.
const IDLE_FOR: Duration = Duration::from_secs(20);

/// Reports each applied event's arrival.
struct Applied(mpsc::UnboundedSender<Instant>);

#[async_trait::async_trait]
impl EventHandler for Applied {
    async fn handle(&self, _txn: &DatabaseTransaction, _event: &Event) -> Result<(), ConsumeError> {
        let _ = self.0.send(Instant::now());
        Ok(())
    }
}

async fn publish(log: &EventLog, db: &DatabaseConnection, n: usize) -> Result<Instant> {
    let txn = db.begin().await?;
    let id = format!("c{n}");
    let scope = EventScope {
        customer_id: id.clone(),
        ..Default::default()
    };
    let payload = Payload::CustomerCreated(CustomerCreated {
        customer_id: id,
        home_store_id: String::new(),
    });
    log.append(&txn, "chain-a", scope, payload).await?;
    txn.commit().await?;
    let committed = Instant::now();
    log.committed();
    Ok(committed)
}

/// CPU seconds (user + system) this process has used, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of the line (utime, stime), counted after the ")".
    (ticks(11) + ticks(12)) / 100.0
}

struct Row {
    name: String,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    idle_cpu_pct: f64,
}

/// One row: a publisher on `writer`, a consumer following the `Watch` of a log on
/// `reader` (the same replica, or another one on its own connection).
async fn run(name: &str, backend: Backend, other_replica: bool) -> Result<Row> {
    let t = TestDb::new::<Migrator>(backend).await;
    let reader_db = if other_replica {
        t.reconnect().await
    } else {
        t.db.clone()
    };
    let writer = EventLog::new(t.db.clone(), "profile", None);
    let reader = if other_replica {
        EventLog::new(reader_db.clone(), "profile", None)
    } else {
        writer.clone()
    };
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    for log in [&writer, &reader] {
        let mut stop = stop.clone();
        tokio::spawn(log.clone().run_publisher(async move {
            let _ = stop.changed().await;
        }));
        if !other_replica {
            break;
        }
    }
    let (applied_tx, mut applied) = mpsc::unbounded_channel();
    let consumer = Consumer::new("bench<-profile", reader_db.clone());
    let watched = Arc::clone(&reader);
    let connect = move |from: u64| {
        let stream = watched.watch(from, None);
        async move { Ok::<_, ConsumeError>(stream) }
    };
    let mut consumer_stop = stop.clone();
    tokio::spawn(
        consumer.run(connect, Arc::new(Applied(applied_tx)), async move {
            let _ = consumer_stop.changed().await;
        }),
    );

    // Idle: nothing appended for a while, then the process's CPU over IDLE_FOR.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let before = cpu_seconds();
    tokio::time::sleep(IDLE_FOR).await;
    let idle_cpu_pct = (cpu_seconds() - before) / IDLE_FOR.as_secs_f64() * 100.0;

    let mut latencies = Vec::with_capacity(EVENTS);
    for n in 0..EVENTS {
        let committed = publish(&writer, &t.db, n).await?;
        let seen = tokio::time::timeout(Duration::from_secs(30), applied.recv())
            .await?
            .ok_or_else(|| anyhow::anyhow!("consumer stopped"))?;
        latencies.push(seen.saturating_duration_since(committed).as_secs_f64() * 1e3);
    }
    let _ = stop_tx.send(true);
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    Ok(Row {
        name: name.to_owned(),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: at(1.0),
        idle_cpu_pct,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let part = std::env::var("MAITRE_BENCH_EVENTFLOW").unwrap_or_default();
    let mut passed = 0;
    let mut failed = 0;
    if part != "latency" {
        let report = maitre_bench::catchup::run(&maitre_bench::catchup::Scale::from_env()).await?;
        println!("{}", report.render());
        let verdicts = report.verdicts();
        let met = verdicts.iter().filter(|(_, ok)| *ok).count();
        passed += met;
        failed += verdicts.len() - met;
    }
    if part != "catchup" {
        let (met, missed) = at_rest().await?;
        passed += met;
        failed += missed;
    }
    println!(
        "eventflow: {passed} passed, {failed} failed (catch-up per consumer of profile: ≥ 70% of \
         profile's import rate and ≥ 10,000 events/s; at rest per row: p50 ≤ 20 ms, p99 ≤ 100 ms)"
    );
    Ok(())
}

/// Commit → applied at rest and idle CPU; (rows that met their targets, rows that missed).
async fn at_rest() -> Result<(usize, usize)> {
    println!(
        "eventflow: commit → consumer applied, {EVENTS} events one at a time at rest; idle CPU of \
         the bench process over {IDLE_FOR:?} (publishers, Watch, consumer, nothing appended)\n"
    );
    let rows = vec![
        run("SQLite, same replica", Backend::Embedded, false).await?,
        run("PostgreSQL, same replica", Backend::Production, false).await?,
        run(
            "PostgreSQL, other replica (no Redis)",
            Backend::Production,
            true,
        )
        .await?,
    ];
    println!("| path | p50 (ms) | p99 (ms) | max (ms) | idle CPU (% of a core) |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for r in &rows {
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} |",
            r.name, r.p50_ms, r.p99_ms, r.max_ms, r.idle_cpu_pct
        );
    }
    let met = rows
        .iter()
        .filter(|r| r.p50_ms <= 20.0 && r.p99_ms <= 100.0)
        .count();
    println!(
        "\neventflow at rest: {met} passed, {} failed (target per row: p50 ≤ 20 ms, p99 ≤ 100 ms)",
        rows.len() - met
    );
    Ok((met, rows.len() - met))
}
