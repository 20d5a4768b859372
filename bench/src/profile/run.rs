//! One run of the `profile` benchmark: start the service on a fresh PostgreSQL schema and
//! Redis prefix, create the store, run the three steps, drop the schema.

use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use maitre_kit::auth::Role;
use maitre_kit::client::outgoing;
use maitre_kit::config::ServiceName;
use maitre_kit::testing::{Backend, TestConfig, spawn, token};
use maitre_proto::profile::v1::{self as pb, profile_service_client::ProfileServiceClient};
use tonic::transport::Channel;

use super::Scale;
use super::ceiling;
use super::events::{SINGLE_EVENT_GUESTS_FROM, import_batch, phone_key, repeat_batch, visit};
use super::load::{LoadResult, closed_loop, paced};
use super::verdicts::{TargetRow, describe, judged, render, thousands};

const CHAIN: &str = "bench-chain";
/// Refuses connections at once: owners come back unknown without a wait.
pub const ASSIGNMENT_UPSTREAM: &str = "http://127.0.0.1:1";

type Client = ProfileServiceClient<Channel>;

/// Runs the benchmark and returns the report (table and closing line).
pub async fn run(scale: &Scale) -> Result<String> {
    let config = TestConfig::new(
        ServiceName::Profile,
        Backend::Production,
        &[("MAITRE_ASSIGNMENT_URL", ASSIGNMENT_UPSTREAM)],
    );
    let (url, schema) = (
        config.config.database_url.clone(),
        config.config.database_schema.clone(),
    );
    let service = spawn(config.config.clone(), |c, l, s| {
        maitre_profile::serve(c, l, s)
    })
    .await;
    let outcome = steps(scale, &service.url, (&url, &schema)).await;
    drop(service);
    // Dropped here and awaited: the harness's own drop runs in a thread the exit would cut.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    if let Err(error) = maitre_kit::db::drop_schema(&url, &schema).await {
        eprintln!("profile: could not drop schema {schema}: {error}");
    }
    drop(config);
    outcome
}

async fn steps(scale: &Scale, url: &str, database: (&str, &str)) -> Result<String> {
    let hq = Arc::new(token(CHAIN, Role::HqAdmin, "bench-hq", &[]));
    let mut api = ProfileServiceClient::connect(url.to_owned())
        .await
        .context("connect to profile")?;
    let store_id: Arc<str> = api
        .create_store(outgoing(
            pb::CreateStoreRequest {
                store: Some(pb::Store {
                    store_id: "bench-01".into(),
                    name: "Bench Store".into(),
                    ..pb::Store::default()
                }),
                request_id: String::new(),
            },
            &hq,
        ))
        .await
        .context("create store")?
        .into_inner()
        .store
        .context("created store")?
        .store_id
        .into();

    eprintln!("profile: RecordEvent, {} clients …", scale.record_clients);
    let record = record_events(scale, url, &hq, &store_id).await?;
    eprintln!("profile: RecordEventsBatch imports …");
    let counter = maitre_kit::db::connect(database.0, database.1).await?;
    let before = ceiling::count_rows(&counter).await?;
    let (import, loaded_batches) = import(scale, url, &hq, &store_id).await?;
    let customers = loaded_batches.len() as u64 * scale.batch_size;
    let settled = settle(database.0, database.1).await?;
    eprintln!("profile: settled after the import in {settled:.1} s");
    let after = ceiling::count_rows(&counter).await?;
    let shape = ceiling::Shape::measure(&counter, before, after, import.units).await?;
    counter.close().await?;
    eprintln!("profile: LookupCustomer at {}/s …", scale.lookup_rate_per_s);
    let lookup = lookups(scale, url, &hq, loaded_batches.clone()).await?;
    eprintln!("profile: RecordEventsBatch repeat visits …");
    let repeats = import_repeats(scale, url, &hq, &store_id, &loaded_batches).await?;
    eprintln!("profile: the import's rows written by PostgreSQL alone …");
    let ceilings = ceiling::measure(
        database.0,
        database.1,
        &shape,
        scale.import_clients,
        scale.ceiling_duration,
    )
    .await?;

    let rows = vec![
        TargetRow {
            operation: format!(
                "RecordEvent, {} clients, {} s",
                scale.record_clients,
                scale.record_duration.as_secs()
            ),
            measured: describe(&record, "events"),
            target: "≥ 3,000 events/s".into(),
            verdict: Some(judged(&record, record.units_per_s() >= 3_000.0)),
        },
        TargetRow {
            operation: format!(
                "RecordEventsBatch, {} × {} events, {} clients",
                import.ok_calls, scale.batch_size, scale.import_clients
            ),
            measured: describe(&import, "events"),
            target: "≥ 50,000 events/s".into(),
            verdict: Some(judged(&import, import.units_per_s() >= 50_000.0)),
        },
        TargetRow {
            operation: format!(
                "RecordEventsBatch, repeat visits, {} × {} events, {} clients",
                repeats.ok_calls, scale.batch_size, scale.import_clients
            ),
            measured: describe(&repeats, "events"),
            target: "≥ 50,000 events/s".into(),
            verdict: Some(judged(&repeats, repeats.units_per_s() >= 50_000.0)),
        },
        TargetRow {
            operation: format!(
                "ceiling: the import's domain rows by PostgreSQL alone, {} workers",
                scale.import_clients
            ),
            measured: describe(&ceilings.domain_only, "events"),
            target: "reference".into(),
            verdict: None,
        },
        TargetRow {
            operation: format!(
                "ceiling: domain and outbox rows, publisher numbering, {} workers",
                scale.import_clients
            ),
            measured: describe(&ceilings.with_outbox, "events"),
            target: "reference".into(),
            verdict: None,
        },
        TargetRow {
            operation: format!(
                "LookupCustomer by phone at {}/s, {} customers",
                scale.lookup_rate_per_s,
                thousands(customers as f64)
            ),
            measured: describe(&lookup, "look-ups"),
            target: "p99 ≤ 2 ms (1M customers)".into(),
            verdict: Some(judged(&lookup, lookup.latency_ms(0.99) <= 2.0)),
        },
    ];
    let mut report = format!(
        "profile — PostgreSQL ({}) + Redis, gRPC on loopback, service and load in one process.\n\
         Before the look-ups the import settles ({settled:.1} s): its events are published, \
         the tables vacuumed and analysed, a checkpoint written.\n\
         Assignment upstream: {ASSIGNMENT_UPSTREAM} (refused at once; owner.known = false).\n\
         Customers stored for the look-ups: {} of the issue's 1,000,000 \
         (batch import for at most {} s).\n",
        maitre_kit::testing::postgres_url(),
        thousands(customers as f64),
        scale.import_budget.as_secs()
    );
    report += &format!(
        "Ceiling rows: the import's rows written in a fresh schema with the service's \
         migrations by one generating statement per {}-event transaction, no service \
         (bench/src/profile/ceiling.rs); {}.\n",
        ceiling::EVENTS_PER_TRANSACTION,
        shape.describe()
    );
    for (name, result) in [
        ("RecordEvent", &record),
        ("import", &import),
        ("lookup", &lookup),
        ("repeat visits", &repeats),
        ("ceiling (domain rows)", &ceilings.domain_only),
        ("ceiling (with outbox)", &ceilings.with_outbox),
    ] {
        if let Some(error) = &result.first_error {
            report += &format!("first {name} error: {error}\n");
        }
    }
    report += "\n";
    report += &render("profile", &rows);
    Ok(report)
}

/// Lets the service reach a steady state after the import, as a store's traffic would
/// meet it rather than in the aftermath of a million inserts: waits until the outbox
/// publisher has numbered every imported event, then runs `VACUUM (ANALYZE)` (this machine
/// runs PostgreSQL with autovacuum off, so tables would otherwise have no statistics, and
/// the first look-ups would set the new rows' hint bits, dirtying pages as they read) and a
/// `CHECKPOINT` (the import's dirty pages are written now, not during the look-ups).
/// Returns the seconds it took.
async fn settle(url: &str, schema: &str) -> Result<f64> {
    use sea_orm::ConnectionTrait;
    let started = std::time::Instant::now();
    let db = maitre_kit::db::connect(url, schema).await?;
    let deadline = started + std::time::Duration::from_secs(300);
    loop {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) FROM kit_outbox WHERE seq IS NULL",
            ))
            .await?
            .context("count of unpublished events")?;
        let pending: i64 = row.try_get_by_index(0)?;
        if pending == 0 || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // This schema's tables only (a bare VACUUM would visit every schema of the database).
    db.execute_unprepared(
        "VACUUM (ANALYZE) customers, identity_links, contact_events, customer_stores, kit_outbox",
    )
    .await?;
    db.execute_unprepared("CHECKPOINT").await?;
    db.close().await?;
    Ok(started.elapsed().as_secs_f64())
}

async fn clients(url: &str, count: usize) -> Result<Arc<Vec<Client>>> {
    let mut clients = Vec::with_capacity(count);
    for _ in 0..count {
        clients.push(
            ProfileServiceClient::connect(url.to_owned())
                .await
                .context("connect to profile")?,
        );
    }
    Ok(Arc::new(clients))
}

async fn record_events(
    scale: &Scale,
    url: &str,
    hq: &Arc<String>,
    store_id: &Arc<str>,
) -> Result<LoadResult> {
    let clients = clients(url, scale.record_clients).await?;
    let (hq, store_id) = (hq.clone(), store_id.clone());
    let guests = scale.guests_per_record_client;
    Ok(closed_loop(
        scale.record_clients,
        scale.record_duration,
        1_000_000,
        move |worker, call| {
            let mut client = clients[worker].clone();
            let guest = SINGLE_EVENT_GUESTS_FROM + worker as u64 * guests + call % guests;
            let event = visit(&store_id, guest, format!("single-{worker}-{call}"));
            let request = outgoing(pb::RecordEventRequest { event: Some(event) }, &hq);
            async move {
                let response = client
                    .record_event(request)
                    .await
                    .map_err(|status| status.to_string())?
                    .into_inner();
                if response.duplicate {
                    return Err("an event recorded twice".into());
                }
                Ok(1)
            }
        },
    )
    .await)
}

/// Imports first visits; returns the run and the batch numbers that were fully recorded.
async fn import(
    scale: &Scale,
    url: &str,
    hq: &Arc<String>,
    store_id: &Arc<str>,
) -> Result<(LoadResult, Vec<u64>)> {
    let clients = clients(url, scale.import_clients).await?;
    let loaded = Arc::new(Mutex::new(Vec::new()));
    let (hq, store_id, sink) = (hq.clone(), store_id.clone(), loaded.clone());
    let (size, workers) = (scale.batch_size, scale.import_clients as u64);
    let result = closed_loop(
        scale.import_clients,
        scale.import_budget,
        scale.import_batches_per_client(),
        move |worker, call| {
            let batch = call * workers + worker as u64;
            let events = import_batch(&store_id, batch, size);
            let sent = send_batch(clients[worker].clone(), events, hq.clone());
            let sink = sink.clone();
            async move {
                let recorded = sent.await.map_err(|e| format!("batch {batch}: {e}"))?;
                if let Ok(mut loaded) = sink.lock() {
                    loaded.push(batch);
                }
                Ok(recorded)
            }
        },
    )
    .await;
    let batches = loaded.lock().map(|l| l.clone()).unwrap_or_default();
    Ok((result, batches))
}

/// Imports repeat visits of the guests `import` stored, one stored batch's guests per
/// request, so each event lands on an existing customer.
async fn import_repeats(
    scale: &Scale,
    url: &str,
    hq: &Arc<String>,
    store_id: &Arc<str>,
    loaded_batches: &[u64],
) -> Result<LoadResult> {
    anyhow::ensure!(!loaded_batches.is_empty(), "no customer was imported");
    let clients = clients(url, scale.import_clients).await?;
    let (hq, store_id) = (hq.clone(), store_id.clone());
    let loaded: Arc<[u64]> = loaded_batches.into();
    let (size, workers) = (scale.batch_size, scale.import_clients as u64);
    Ok(closed_loop(
        scale.import_clients,
        scale.repeat_duration,
        u64::MAX,
        move |worker, call| {
            let round = call * workers + worker as u64;
            let batch = loaded[(round % loaded.len() as u64) as usize];
            let events = repeat_batch(&store_id, batch, size, round);
            send_batch(clients[worker].clone(), events, hq.clone())
        },
    )
    .await)
}

/// Sends one `RecordEventsBatch`; the events recorded, or why not all of them were.
/// Sends one `RecordEventsBatch`; the number of events recorded, or why not all were.
pub fn send_batch(
    mut client: Client,
    events: Vec<pb::ContactEvent>,
    hq: Arc<String>,
) -> impl std::future::Future<Output = Result<u64, String>> {
    let size = events.len() as i64;
    let request = outgoing(pb::RecordEventsBatchRequest { events }, &hq);
    async move {
        let response = client
            .record_events_batch(request)
            .await
            .map_err(|status| status.to_string())?
            .into_inner();
        if response.recorded != size {
            let first = response.results.iter().find(|r| !r.error.is_empty());
            return Err(format!(
                "{} of {size} recorded ({:?})",
                response.recorded,
                first.map(|r| (&r.error_field, &r.error))
            ));
        }
        Ok(size as u64)
    }
}

async fn lookups(
    scale: &Scale,
    url: &str,
    hq: &Arc<String>,
    loaded_batches: Vec<u64>,
) -> Result<LoadResult> {
    anyhow::ensure!(!loaded_batches.is_empty(), "no customer was imported");
    // A few connections, as a gateway would hold; calls multiplex over HTTP/2.
    let clients = clients(url, 4).await?;
    let hq = hq.clone();
    let size = scale.batch_size;
    Ok(
        paced(scale.lookup_rate_per_s, scale.lookup_calls(), move |call| {
            // Spread over all stored guests (a fixed scramble, the same every run).
            let scrambled = call.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
            let batch = loaded_batches[(scrambled % loaded_batches.len() as u64) as usize];
            let guest = batch * size + (scrambled >> 32) % size;
            let mut client = clients[(call % 4) as usize].clone();
            let request = outgoing(
                pb::LookupCustomerRequest {
                    identity_key: Some(phone_key(guest)),
                },
                &hq,
            );
            async move {
                let response = client
                    .lookup_customer(request)
                    .await
                    .map_err(|status| status.to_string())?
                    .into_inner();
                match response.customer {
                    Some(_) => Ok(1),
                    None => Err(format!("guest {guest}: no customer")),
                }
            }
        })
        .await,
    )
}
