//! One run of the `assignment` benchmark: start the service on a fresh PostgreSQL schema and
//! Redis prefix, add the managers, run the three steps, drop the schema and the Redis key.

use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::Utc;
use maitre_kit::auth::Role;
use maitre_kit::client::outgoing;
use maitre_kit::config::ServiceName;
use maitre_kit::testing::{Backend, TestConfig, redis_url, spawn, token};
use maitre_proto::assignment::v1::{
    self as pb, assignment_service_client::AssignmentServiceClient,
};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use super::{MANAGERS, Scale, changing_contact};
use crate::profile::load::{LoadResult, closed_loop, paced};
use crate::profile::verdicts::{TargetRow, describe, judged, render, thousands};

const CHAIN: &str = "bench-chain";
const STORE: &str = "bench-01";
/// Assignment asks profile nothing on these paths; a refused upstream keeps it honest.
const PROFILE_UPSTREAM: &str = "http://127.0.0.1:1";
/// More calls than any step can make in its time: the time bounds each step.
const CALL_CAP: u64 = 10_000_000;

type Client = AssignmentServiceClient<Channel>;

/// Runs the benchmark and returns the report (table and closing line).
pub async fn run(scale: &Scale) -> Result<String> {
    let config = TestConfig::new(
        ServiceName::Assignment,
        Backend::Production,
        &[("MAITRE_PROFILE_URL", PROFILE_UPSTREAM)],
    );
    let (url, schema, prefix) = (
        config.config.database_url.clone(),
        config.config.database_schema.clone(),
        config.config.redis_prefix.clone(),
    );
    let service = spawn(config.config.clone(), |c, l, s| {
        maitre_assignment::serve(c, l, s)
    })
    .await;
    let outcome = steps(scale, &service.url, &format!("{prefix}bench:raw")).await;
    drop(service);
    // Dropped here and awaited: the harness's own drop runs in a thread the exit would cut.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    if let Err(error) = maitre_kit::db::drop_schema(&url, &schema).await {
        eprintln!("assignment: could not drop schema {schema}: {error}");
    }
    drop(config);
    outcome
}

async fn steps(scale: &Scale, url: &str, raw_key: &str) -> Result<String> {
    let hq = token(CHAIN, Role::HqAdmin, "bench-hq", &[]);
    let service = Arc::new(token(CHAIN, Role::Service, "service:profile", &[]));
    let mut api = AssignmentServiceClient::connect(url.to_owned())
        .await
        .context("connect to assignment")?;
    for manager in MANAGERS {
        api.upsert_manager(outgoing(
            pb::UpsertManagerRequest {
                manager: Some(pb::Manager {
                    manager_id: manager.to_owned(),
                    name: manager.to_uppercase(),
                    store_ids: vec![STORE.to_owned()],
                    capacity: 0,
                    status: pb::ManagerStatus::OnDuty as i32,
                    ..pb::Manager::default()
                }),
                request_id: String::new(),
            },
            &hq,
        ))
        .await
        .with_context(|| format!("add manager {manager}"))?;
    }
    // Callers share connections as the profile replicas calling assignment do (one HTTP/2
    // channel per replica): caller i speaks over connection i mod `connections`.
    let mut connections = Vec::with_capacity(scale.connections);
    for _ in 0..scale.connections.max(1) {
        connections.push(
            Endpoint::from_shared(url.to_owned())
                .context("assignment url")?
                .connect()
                .await
                .context("connect to assignment")?,
        );
    }
    let clients: Arc<Vec<Client>> = Arc::new(
        (0..scale.callers)
            .map(|caller| {
                AssignmentServiceClient::new(connections[caller % connections.len()].clone())
            })
            .collect(),
    );

    // Each fast-path guest's first contact assigns them (a write); only the repeats are timed.
    for caller in 0..scale.callers {
        let mut client = clients[caller].clone();
        contact(&mut client, &service, &fast_guest(caller), MANAGERS[0], 0)
            .await
            .map_err(anyhow::Error::msg)
            .context("first contact of a fast-path guest")?;
    }
    eprintln!("assignment: fast path, {} callers …", scale.callers);
    let fast = {
        let (clients, service) = (clients.clone(), service.clone());
        closed_loop(
            scale.callers,
            scale.fast_duration,
            CALL_CAP,
            move |caller, call| {
                let (mut client, service) = (clients[caller].clone(), service.clone());
                async move {
                    let changed = contact(
                        &mut client,
                        &service,
                        &fast_guest(caller),
                        MANAGERS[0],
                        call + 1,
                    )
                    .await?;
                    if changed {
                        return Err("the owner changed on a same-manager contact".into());
                    }
                    Ok(1)
                }
            },
        )
        .await
    };
    eprintln!(
        "assignment: gRPC floor (health checks), {} callers …",
        scale.callers
    );
    let floor = {
        let health: Arc<Vec<HealthClient<Channel>>> = Arc::new(
            (0..scale.callers)
                .map(|caller| HealthClient::new(connections[caller % connections.len()].clone()))
                .collect(),
        );
        closed_loop(
            scale.callers,
            scale.fast_duration,
            CALL_CAP,
            move |caller, _call| {
                let mut health = health[caller].clone();
                async move {
                    health
                        .check(HealthCheckRequest::default())
                        .await
                        .map_err(|status| status.to_string())?;
                    Ok(1)
                }
            },
        )
        .await
    };
    eprintln!("assignment: raw Redis EVALSHA, {} tasks …", scale.callers);
    let raw = raw_redis(scale, raw_key).await?;
    eprintln!("assignment: owner changes, {} callers …", scale.callers);
    let guests = scale.guests_per_changing_caller;
    let changing = {
        let (clients, service) = (clients.clone(), service.clone());
        closed_loop(
            scale.callers,
            scale.change_duration,
            CALL_CAP,
            move |caller, call| {
                let (mut client, service) = (clients[caller].clone(), service.clone());
                let (guest, manager) = changing_contact(caller, call, guests);
                async move {
                    if contact(&mut client, &service, &guest, manager, call).await? {
                        Ok(1)
                    } else {
                        Err(format!("{guest} booked through {manager} kept its owner"))
                    }
                }
            },
        )
        .await
    };

    eprintln!(
        "assignment: owner changes paced at {}/s …",
        scale.paced_changes_per_s
    );
    let paced_changes = {
        let clients = clients.clone();
        let (rate, guests) = (scale.paced_changes_per_s, scale.paced_guests);
        let calls = u64::from(rate) * scale.change_duration.as_secs();
        paced(rate, calls, move |call| {
            let (mut client, service) = (
                clients[call as usize % clients.len()].clone(),
                service.clone(),
            );
            // Guest `call mod guests`, through the other manager on every pass: a guest comes
            // back every `guests / rate` seconds, long after its previous contact finished.
            let guest = format!("paced-{}", call % guests);
            let manager = MANAGERS[((call / guests) % 2) as usize];
            async move {
                if contact(&mut client, &service, &guest, manager, call).await? {
                    Ok(1)
                } else {
                    Err(format!("{guest} booked through {manager} kept its owner"))
                }
            }
        })
        .await
    };

    let share = ratio(&fast, &raw);
    let rows = vec![
        TargetRow {
            operation: format!(
                "AssignOnContact, owner kept, {} callers on {} connections",
                scale.callers, scale.connections
            ),
            measured: describe(&fast, "decisions"),
            target: "≥ 10,000 decisions/s".into(),
            verdict: Some(judged(&fast, fast.units_per_s() >= 10_000.0)),
        },
        TargetRow {
            operation: format!(
                "gRPC round trip, no work (health check), {} callers on {} connections",
                scale.callers, scale.connections
            ),
            measured: describe(&floor, "calls"),
            target: "reference".into(),
            verdict: None,
        },
        TargetRow {
            operation: "fast path ÷ gRPC round trip".into(),
            measured: format!("{:.1}%", ratio(&fast, &floor) * 100.0),
            target: "reference".into(),
            verdict: None,
        },
        TargetRow {
            operation: format!("raw Redis EVALSHA (one GET), {} tasks", scale.callers),
            measured: describe(&raw, "calls"),
            target: "reference".into(),
            verdict: None,
        },
        TargetRow {
            operation: "fast path ÷ raw Redis".into(),
            measured: format!("{:.1}%", share * 100.0),
            target: "≥ 30%".into(),
            verdict: Some(judged(&fast, share >= 0.30 && raw.failed_calls == 0)),
        },
        TargetRow {
            operation: format!(
                "AssignOnContact, owner changes, {} callers, {} guests",
                scale.callers,
                thousands((scale.callers as u64 * guests) as f64)
            ),
            measured: describe(&changing, "decisions"),
            target: "≥ 2,000 decisions/s (most the service does)".into(),
            verdict: Some(judged(&changing, changing.units_per_s() >= 2_000.0)),
        },
        TargetRow {
            operation: format!(
                "AssignOnContact, owner changes offered at {}/s, {} guests",
                scale.paced_changes_per_s,
                thousands(scale.paced_guests as f64)
            ),
            measured: describe(&paced_changes, "decisions"),
            target: "≥ 2,000 decisions/s, p99 ≤ 20 ms".into(),
            verdict: Some(judged(
                &paced_changes,
                paced_changes.units_per_s() >= 0.98 * f64::from(scale.paced_changes_per_s)
                    && paced_changes.latency_ms(0.99) <= 20.0,
            )),
        },
    ];
    let mut report = format!(
        "assignment — PostgreSQL ({}) + Redis, gRPC on loopback, service and load in one \
         process; raw Redis measured in the same run, same concurrency.\n",
        maitre_kit::testing::postgres_url()
    );
    for (name, result) in [
        ("fast", &fast),
        ("raw", &raw),
        ("changing", &changing),
        ("paced", &paced_changes),
    ] {
        if let Some(error) = &result.first_error {
            report += &format!("first {name} error: {error}\n");
        }
    }
    report += "\n";
    report += &render("assignment", &rows);
    Ok(report)
}

fn fast_guest(caller: usize) -> String {
    format!("stay-{caller}")
}

/// Books `guest` through `manager` now (amount 0); returns whether the owner changed.
async fn contact(
    client: &mut Client,
    service_token: &str,
    guest: &str,
    manager: &str,
    call: u64,
) -> Result<bool, String> {
    let at = Utc::now();
    let request = pb::AssignOnContactRequest {
        customer_id: guest.to_owned(),
        store_id: STORE.to_owned(),
        contact_manager_id: manager.to_owned(),
        amount_fen: 0,
        occurred_at: Some(prost_types::Timestamp {
            seconds: at.timestamp(),
            nanos: at.timestamp_subsec_nanos() as i32,
        }),
        source_event_id: format!("{guest}-{call}"),
        latest_other_contact_time: None,
    };
    let response = client
        .assign_on_contact(outgoing(request, service_token))
        .await
        .map_err(|status| status.to_string())?
        .into_inner();
    Ok(response.changed)
}

/// 64 tasks running a one-`GET` Lua script by EVALSHA over one multiplexed connection.
async fn raw_redis(scale: &Scale, key: &str) -> Result<LoadResult> {
    let client = redis::Client::open(redis_url()).context("redis url")?;
    let connection = redis::aio::ConnectionManager::new(client)
        .await
        .context("connect to redis")?;
    let mut setup = connection.clone();
    redis::cmd("SET")
        .arg(key)
        .arg("bench-a")
        .query_async::<()>(&mut setup)
        .await
        .context("SET the raw key")?;
    let script = Arc::new(redis::Script::new("return redis.call('GET', KEYS[1])"));
    let shared_key: Arc<str> = key.into();
    let result = closed_loop(
        scale.callers,
        scale.redis_duration,
        CALL_CAP,
        move |_, _| {
            let (mut connection, script, key) =
                (connection.clone(), script.clone(), shared_key.clone());
            async move {
                let value: Option<String> = script
                    .key(&*key)
                    .invoke_async(&mut connection)
                    .await
                    .map_err(|error| error.to_string())?;
                match value {
                    Some(_) => Ok(1),
                    None => Err("the raw key is gone".into()),
                }
            }
        },
    )
    .await;
    let _ = redis::cmd("DEL")
        .arg(key)
        .query_async::<i64>(&mut setup)
        .await;
    Ok(result)
}

/// `part`'s rate as a share of `whole`'s (0 when `whole` did nothing).
fn ratio(part: &LoadResult, whole: &LoadResult) -> f64 {
    if whole.units_per_s() > 0.0 {
        part.units_per_s() / whole.units_per_s()
    } else {
        0.0
    }
}
