//! The catch-up benchmark (issue 22, "Catch-up rate"): every service and the gateway in
//! process on PostgreSQL + Redis, a history of first visits imported through profile's
//! public batch API (`RecordEventsBatch`, 4 clients), and every consumer followed while it
//! catches up.
//!
//! Each consumer's position is read from its own cursor rows (`Consumer::cursor`, the
//! slowest partition when partitioned) every 100 ms, and each log's head from its outbox
//! (highest sequence, and whether any committed row is still unnumbered), so sampling costs
//! the services next to nothing. When the sampler says everything is caught up, the gateway's
//! `GET /v1/consumers` (what an operator sees) must say so too.
//!
//! Rates, for one history in one run:
//! - profile's import rate: the log events the import produced ÷ the import's wall clock
//!   (first batch sent → last batch answered); the visits per second beside it;
//! - a consumer's catch-up rate: the same log events ÷ the time from the import's start
//!   until its cursor reached the import's last event.
//!
//! Both count the same events, so the ratio is the import's duration over the consumer's.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use maitre_kit::{
    auth::Role,
    config::ServiceName,
    eventlog::Consumer,
    testing::{Backend, token},
};
use maitre_proto::profile::v1::profile_service_client::ProfileServiceClient;
use maitre_tests::{System, rest::Rest, setup};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use tokio::time::Instant;

use crate::profile::{events::import_batch, load::closed_loop, run::send_batch};

const CHAIN: &str = "bench-catchup";

/// The consumers the issue names: each one following profile.
pub const FOLLOWING_PROFILE: [(ServiceName, &str); 3] = [
    (ServiceName::Tagging, "tagging<-profile"),
    (ServiceName::Assignment, "assignment<-profile"),
    (ServiceName::Notification, "notification<-profile"),
];

/// The consumers downstream of those (the import's effects travelling on), timed to the end.
pub const DOWNSTREAM: [(ServiceName, &str, ServiceName); 5] = [
    (
        ServiceName::Notification,
        "notification<-tagging",
        ServiceName::Tagging,
    ),
    (
        ServiceName::Notification,
        "notification<-assignment",
        ServiceName::Assignment,
    ),
    (
        ServiceName::Tagging,
        "tagging<-notification",
        ServiceName::Notification,
    ),
    (
        ServiceName::Profile,
        "profile<-notification",
        ServiceName::Notification,
    ),
    (
        ServiceName::Profile,
        "profile<-assignment",
        ServiceName::Assignment,
    ),
];

/// How big a history is imported.
#[derive(Clone, Debug)]
pub struct Scale {
    pub guests: u64,
    pub batch_size: u64,
    pub clients: usize,
    /// Give up waiting for the consumers this long after the import ended.
    pub catch_up_deadline: Duration,
}

impl Scale {
    /// 20,000 guests (60,000 log events), `MAITRE_BENCH_SCALE=small` 4,000;
    /// `MAITRE_BENCH_CATCHUP_GUESTS` overrides either.
    pub fn from_env() -> Self {
        let small = std::env::var("MAITRE_BENCH_SCALE").as_deref() == Ok("small");
        let guests = std::env::var("MAITRE_BENCH_CATCHUP_GUESTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if small { 4_000 } else { 20_000 });
        Self {
            guests,
            batch_size: 2_000,
            clients: 4,
            catch_up_deadline: Duration::from_secs(
                std::env::var("MAITRE_BENCH_CATCHUP_DEADLINE_S")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(900),
            ),
        }
    }
}

/// One consumer's figures.
#[derive(Clone, Debug)]
pub struct ConsumerRow {
    pub consumer: String,
    /// From the import's start until its cursor reached its upstream's final head;
    /// `None` when it did not within the deadline.
    pub caught_up_after: Option<Duration>,
    /// Events of its upstream it applied in the run (its cursor's advance).
    pub applied: u64,
    /// `applied` over `caught_up_after` (or over the whole wait when it did not catch up).
    pub events_per_s: f64,
}

/// The run's figures.
#[derive(Clone, Debug)]
pub struct Report {
    pub partitions: String,
    pub guests: u64,
    /// Log events the import appended to profile's log.
    pub profile_events: u64,
    pub import: Duration,
    pub import_errors: u64,
    pub first_error: Option<String>,
    /// From the import's end until every consumer (all eight) was caught up.
    pub all_caught_up_after_import: Option<Duration>,
    pub following_profile: Vec<ConsumerRow>,
    pub downstream: Vec<ConsumerRow>,
    /// What `GET /v1/consumers` said at the end.
    pub gateway_caught_up: bool,
}

impl Report {
    /// Profile's import rate in log events per second.
    pub fn profile_events_per_s(&self) -> f64 {
        self.profile_events as f64 / self.import.as_secs_f64().max(1e-9)
    }

    /// Targets met and missed: each consumer following profile at ≥ 70% of profile's rate
    /// and ≥ 10,000 events/s.
    pub fn verdicts(&self) -> Vec<(String, bool)> {
        let profile = self.profile_events_per_s();
        let mut out = vec![];
        for row in &self.following_profile {
            let caught = row.caught_up_after.is_some();
            out.push((
                format!("{} ≥ 70% of profile's import rate", row.consumer),
                caught && row.events_per_s >= 0.7 * profile,
            ));
            out.push((
                format!("{} ≥ 10,000 events/s", row.consumer),
                caught && row.events_per_s >= 10_000.0,
            ));
        }
        out
    }

    /// The table and the closing line.
    pub fn render(&self) -> String {
        let profile = self.profile_events_per_s();
        let mut s = format!(
            "eventflow catch-up — every service and the gateway in one process, PostgreSQL + \
             Redis; partitions per consumer: {}.\n\
             History: {} guests' first visits through RecordEventsBatch ({} per call, 4 \
             clients), {} events in profile's log; consumers running throughout.\n",
            self.partitions,
            crate::profile::verdicts::thousands(self.guests as f64),
            crate::profile::verdicts::thousands(2_000.0),
            crate::profile::verdicts::thousands(self.profile_events as f64),
        );
        if self.import_errors > 0 {
            s += &format!(
                "import: {} failed calls, first: {}\n",
                self.import_errors,
                self.first_error.as_deref().unwrap_or("?")
            );
        }
        s += "\n| who | events | time from import start (s) | events/s | of profile's import rate |\n";
        s += "| --- | ---: | ---: | ---: | ---: |\n";
        s += &format!(
            "| profile: import ({:.0} visits/s) | {} | {:.1} | {:.0} | 100% |\n",
            self.guests as f64 / self.import.as_secs_f64().max(1e-9),
            self.profile_events,
            self.import.as_secs_f64(),
            profile,
        );
        for row in self.following_profile.iter().chain(&self.downstream) {
            let time = row.caught_up_after.map_or("not caught up".to_owned(), |d| {
                format!("{:.1}", d.as_secs_f64())
            });
            let share = if self
                .following_profile
                .iter()
                .any(|r| r.consumer == row.consumer)
            {
                format!("{:.0}%", row.events_per_s / profile.max(1e-9) * 100.0)
            } else {
                "(downstream)".to_owned()
            };
            s += &format!(
                "| {} | {} | {} | {:.0} | {} |\n",
                row.consumer, row.applied, time, row.events_per_s, share
            );
        }
        s += &format!(
            "\nFrom the import's end until every consumer was caught up: {}; GET /v1/consumers \
             caughtUp: {}.\n",
            self.all_caught_up_after_import.map_or(
                "not within the deadline".to_owned(),
                |d| format!("{:.1} s", d.as_secs_f64())
            ),
            self.gateway_caught_up
        );
        let verdicts = self.verdicts();
        let passed = verdicts.iter().filter(|(_, ok)| *ok).count();
        for (target, ok) in &verdicts {
            s += &format!("  {} {target}\n", if *ok { "met:   " } else { "missed:" });
        }
        s += &format!(
            "\neventflow catch-up: {passed} passed, {} failed (targets: each consumer of profile \
             ≥ 70% of profile's import rate and ≥ 10,000 events/s)\n",
            verdicts.len() - passed
        );
        s
    }
}

/// A log's head: the highest sequence, and how many committed rows are still unnumbered.
async fn head(db: &DatabaseConnection) -> Result<(u64, i64)> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COALESCE(MAX(seq), 0), (SELECT COUNT(*) FROM kit_outbox WHERE seq IS NULL) \
             FROM kit_outbox WHERE seq IS NOT NULL",
        ))
        .await?
        .context("outbox head")?;
    Ok((
        row.try_get_by_index::<i64>(0)? as u64,
        row.try_get_by_index::<i64>(1)?,
    ))
}

/// Every service's database connection (its own schema).
async fn databases(system: &System) -> Result<BTreeMap<&'static str, DatabaseConnection>> {
    let mut out = BTreeMap::new();
    for service in [
        ServiceName::Profile,
        ServiceName::Assignment,
        ServiceName::Tagging,
        ServiceName::Notification,
    ] {
        let config = system.config_of(service);
        out.insert(
            service.as_str(),
            maitre_kit::db::connect(&config.database_url, &config.database_schema).await?,
        );
    }
    Ok(out)
}

struct Sample {
    at: Instant,
    heads: BTreeMap<&'static str, (u64, i64)>,
    cursors: BTreeMap<&'static str, u64>,
}

/// Every consumer: (its service, its name, its upstream).
fn all_consumers() -> Vec<(ServiceName, &'static str, ServiceName)> {
    FOLLOWING_PROFILE
        .iter()
        .map(|(s, n)| (*s, *n, ServiceName::Profile))
        .chain(DOWNSTREAM)
        .collect()
}

async fn sample(dbs: &BTreeMap<&'static str, DatabaseConnection>) -> Result<Sample> {
    let mut heads = BTreeMap::new();
    for (service, db) in dbs {
        heads.insert(*service, head(db).await?);
    }
    let mut cursors = BTreeMap::new();
    for (service, name, _) in all_consumers() {
        let consumer = Consumer::new(name, dbs[service.as_str()].clone());
        cursors.insert(name, consumer.cursor().await.map_err(anyhow::Error::from)?);
    }
    Ok(Sample {
        at: Instant::now(),
        heads,
        cursors,
    })
}

/// Whether every consumer has applied all its upstream has, and nothing is unnumbered.
fn settled(s: &Sample) -> bool {
    s.heads.values().all(|(_, unnumbered)| *unnumbered == 0)
        && all_consumers()
            .iter()
            .all(|(_, name, upstream)| s.cursors[name] >= s.heads[upstream.as_str()].0)
}

/// Runs the benchmark.
pub async fn run(scale: &Scale) -> Result<Report> {
    let system = System::start(Backend::Production).await;
    let outcome = steps(scale, &system).await;
    drop(system);
    // The harness drops the schemas in a thread of its own; let it finish before exiting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    outcome
}

async fn steps(scale: &Scale, system: &System) -> Result<Report> {
    let hq = Arc::new(token(CHAIN, Role::HqAdmin, "bench-hq", &[]));
    let admin = Rest::new(&system.gateway.url, &hq);
    let store: Arc<str> = setup::store(&admin, "基准店", "BENCH").await.into();
    // A rule every imported visit makes true: tagging evaluates and tags each guest, and its
    // TagAdded events travel on to notification.
    setup::active_rule_tag(&admin, "visited", "visits(365d) >= 1").await;
    let dbs = databases(system).await?;

    // Everything caught up before the import starts.
    let ready_by = Instant::now() + Duration::from_secs(60);
    let before = loop {
        if let Ok(s) = sample(&dbs).await
            && settled(&s)
        {
            break s;
        }
        anyhow::ensure!(
            Instant::now() < ready_by,
            "consumers not caught up before the import"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let start_cursors = before.cursors.clone();
    let profile_start = before.heads["profile"].0;

    // The sampler runs through the import and until everything has settled after it.
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let sampler_dbs = dbs.clone();
    let deadline = scale.catch_up_deadline;
    let sampler = tokio::spawn(async move {
        let mut samples = vec![];
        let mut import_ended: Option<Instant> = None;
        let mut failures = 0;
        loop {
            // A sample that cannot be read (the database momentarily out of connections on a
            // shared machine) is skipped; the next one is as good.
            let s = match sample(&sampler_dbs).await {
                Ok(s) => s,
                Err(e) if failures < 600 => {
                    failures += 1;
                    eprintln!("eventflow: sample skipped: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if import_ended.is_none() && *done_rx.borrow() {
                import_ended = Some(s.at);
            }
            let finished = import_ended.is_some() && settled(&s);
            let late = import_ended.is_some_and(|at| s.at.duration_since(at) > deadline);
            samples.push(s);
            if finished || late {
                return Ok::<_, anyhow::Error>(samples);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    eprintln!("eventflow: importing {} guests …", scale.guests);
    let mut clients = vec![];
    for _ in 0..scale.clients {
        clients.push(
            ProfileServiceClient::connect(system.profile.url.clone())
                .await
                .context("connect to profile")?,
        );
    }
    let clients = Arc::new(clients);
    let (size, workers) = (scale.batch_size, scale.clients as u64);
    let batches = scale.guests.div_ceil(size);
    let per_client = batches.div_ceil(workers);
    let started = Instant::now();
    let (hq2, store2) = (hq.clone(), store.clone());
    let import = closed_loop(
        scale.clients,
        Duration::from_secs(3_600),
        per_client,
        move |worker, call| {
            let batch = call * workers + worker as u64;
            let client = clients[worker].clone();
            let (hq, store) = (hq2.clone(), store2.clone());
            async move {
                if batch >= batches {
                    return Ok(0);
                }
                send_batch(client, import_batch(&store, batch, size), hq).await
            }
        },
    )
    .await;
    let import_ended = Instant::now();
    let _ = done_tx.send(true);
    eprintln!(
        "eventflow: imported {} visits in {:.1} s; waiting for the consumers …",
        import.units,
        import.elapsed.as_secs_f64()
    );
    let samples = sampler.await??;
    let last = samples.last().context("no sample")?;
    let all_settled = settled(last);

    let profile_final = last.heads["profile"].0;
    let row = |name: &str, upstream: &str| {
        let target = last.heads[upstream].0;
        let reached = samples.iter().find(|s| s.cursors[name] >= target);
        let applied = last.cursors[name].saturating_sub(start_cursors[name]);
        match reached.filter(|_| all_settled) {
            Some(s) => {
                let took = s.at.duration_since(started);
                ConsumerRow {
                    consumer: name.to_owned(),
                    caught_up_after: Some(took),
                    applied,
                    events_per_s: applied as f64 / took.as_secs_f64().max(1e-9),
                }
            }
            None => ConsumerRow {
                consumer: name.to_owned(),
                caught_up_after: None,
                applied,
                events_per_s: applied as f64
                    / last.at.duration_since(started).as_secs_f64().max(1e-9),
            },
        }
    };
    let following_profile = FOLLOWING_PROFILE
        .iter()
        .map(|(_, name)| row(name, "profile"))
        .collect();
    let downstream = DOWNSTREAM
        .iter()
        .map(|(_, name, upstream)| row(name, upstream.as_str()))
        .collect();

    // What the operator sees: the gateway's merged status says caught up (asked until it
    // does, for up to 30 s: its heads are read a moment after the sampler's).
    let mut gateway_caught_up = false;
    if all_settled {
        let asked_until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < asked_until {
            let answer = admin.get("/v1/consumers").await;
            if answer.status == 200 && answer.body["caughtUp"] == true {
                gateway_caught_up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for db in dbs.into_values() {
        let _ = db.close().await;
    }
    Ok(Report {
        partitions: system
            .config_of(ServiceName::Tagging)
            .event_partitions
            .to_string(),
        guests: import.units,
        profile_events: profile_final - profile_start,
        import: import.elapsed,
        import_errors: import.failed_calls,
        first_error: import.first_error.clone(),
        all_caught_up_after_import: all_settled.then(|| last.at.duration_since(import_ended)),
        following_profile,
        downstream,
        gateway_caught_up,
    })
}
