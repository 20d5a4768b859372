//! The gateway benchmark (issue 8, "Benchmarks"): the latency the gateway adds over a
//! direct gRPC call, and its throughput against direct gRPC, on one RPC (profile
//! `GetStore`) measured side by side in one run. The services run in process on loopback
//! ports on the embedded backend (SQLite, in-process coordination), so the upstream is
//! cheap and the difference is the gateway's.

pub mod load;

use std::time::Duration;

use anyhow::{Context, Result};
use maitre_kit::{
    auth::Role,
    client::outgoing,
    config::ServiceName,
    testing::{Backend, RunningService, TestConfig, spawn, spawn_http, token},
};
use maitre_proto::profile::v1::{self as pb, profile_service_client::ProfileServiceClient};
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::report::Verdict;
use load::LatencySummary;

/// Issue 8: added p50 ≤ 150 µs.
pub const MAX_ADDED_P50_US: f64 = 150.0;
/// Issue 8: throughput ≥ 70% of direct gRPC.
pub const MIN_THROUGHPUT_SHARE: f64 = 0.70;
/// Callers of the throughput runs.
pub const CONCURRENCY: usize = 32;
/// Rate limits high enough never to answer 429 during the run (the gateway's edge counts
/// every call; the default 6,000/min per token would throttle the throughput run).
const UNLIMITED_PER_MINUTE: &str = "1000000000";

/// Sizes of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scale {
    pub name: &'static str,
    pub warmups: usize,
    pub latency_calls: usize,
    pub throughput_for: Duration,
}

impl Scale {
    /// `MAITRE_BENCH_SCALE=small`: a few seconds; otherwise 10,000 timed calls and 10 s runs.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Scale {
        match var("MAITRE_BENCH_SCALE").as_deref() {
            Some("small") => Scale {
                name: "small",
                warmups: 200,
                latency_calls: 2_000,
                throughput_for: Duration::from_secs(3),
            },
            _ => Scale {
                name: "full",
                warmups: 1_000,
                latency_calls: 10_000,
                throughput_for: Duration::from_secs(10),
            },
        }
    }
}

/// Assignment (profile's upstream), profile and the gateway, running on loopback.
pub struct Services {
    pub profile: RunningService,
    pub gateway: RunningService,
    _assignment: RunningService,
    _configs: Vec<TestConfig>,
}

impl Services {
    /// Starts them on the embedded backend, in dependency order as `tests/src/lib.rs` does.
    pub async fn start() -> Result<Services> {
        let backend = Backend::Embedded;
        let a = TestConfig::new(ServiceName::Assignment, backend, &[]);
        let assignment = spawn(a.config.clone(), maitre_assignment::serve).await;
        let p = TestConfig::new(
            ServiceName::Profile,
            backend,
            &[("MAITRE_ASSIGNMENT_URL", &assignment.url)],
        );
        let profile = spawn(p.config.clone(), maitre_profile::serve).await;
        let g = TestConfig::new(
            ServiceName::Gateway,
            backend,
            &[
                ("MAITRE_PROFILE_URL", &profile.url),
                ("MAITRE_ASSIGNMENT_URL", &assignment.url),
            ],
        );
        let options = maitre_gateway::GatewayOptions::from_lookup(|key| match key {
            "MAITRE_RATE_LIMIT_PER_MINUTE" | "MAITRE_CHAIN_RATE_LIMIT_PER_MINUTE" => {
                Some(UNLIMITED_PER_MINUTE.to_owned())
            }
            _ => None,
        })
        .context("gateway options")?;
        let gateway = spawn_http(
            g.config.clone(),
            "/healthz",
            move |config, listener, stop| {
                maitre_gateway::serve_with(config, options, listener, stop)
            },
        )
        .await;
        Ok(Services {
            profile,
            gateway,
            _assignment: assignment,
            _configs: vec![a, p, g],
        })
    }
}

/// What one timed call is: the floor, or one of the three ways of calling `GetStore`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// [`Callers::round_trip`].
    Floor,
    /// [`Callers::direct`].
    Direct,
    /// [`Callers::gateway_grpc`].
    GatewayGrpc,
    /// [`Callers::gateway_rest`].
    GatewayRest,
}

impl Path {
    /// Every path, in the table's order.
    pub const ALL: [Path; 4] = [
        Path::Floor,
        Path::Direct,
        Path::GatewayGrpc,
        Path::GatewayRest,
    ];
}

/// The three ways of calling `GetStore` for one store, and the floor they stand on.
#[derive(Clone)]
pub struct Callers {
    direct: ProfileServiceClient<Channel>,
    /// Health checks on profile's connection: a gRPC round trip that does no work.
    health: HealthClient<Channel>,
    via_gateway: ProfileServiceClient<Channel>,
    http: reqwest::Client,
    rest_url: String,
    token: String,
    store_id: String,
}

impl Callers {
    /// Creates one store (directly) and the clients: gRPC to profile, gRPC to the gateway,
    /// and `maitre_kit::http::client()` to the gateway's REST route.
    pub async fn new(services: &Services) -> Result<Callers> {
        let token = token("bench-chain", Role::HqAdmin, "bench", &[]);
        let channel = |url: &str| -> Result<Channel> {
            maitre_kit::client::lazy_channel(url).context("channel")
        };
        let profile = channel(&services.profile.url)?;
        let mut direct = ProfileServiceClient::new(profile.clone());
        let health = HealthClient::new(profile);
        let via_gateway = ProfileServiceClient::new(channel(&services.gateway.url)?);
        let store = pb::Store {
            name: "静安店".into(),
            time_zone: "Asia/Shanghai".into(),
            code: "SH-001".into(),
            ..Default::default()
        };
        let created = direct
            .create_store(outgoing(
                pb::CreateStoreRequest {
                    store: Some(store),
                    request_id: "bench-store".into(),
                },
                &token,
            ))
            .await
            .context("CreateStore")?
            .into_inner();
        let store_id = created
            .store
            .context("CreateStore returned no store")?
            .store_id;
        Ok(Callers {
            direct,
            health,
            via_gateway,
            http: maitre_kit::http::client(),
            rest_url: format!("{}/v1/stores/{store_id}", services.gateway.url),
            token,
            store_id,
        })
    }

    async fn grpc(
        mut client: ProfileServiceClient<Channel>,
        token: String,
        id: String,
    ) -> Result<()> {
        let reply = client
            .get_store(outgoing(
                pb::GetStoreRequest {
                    store_id: id.clone(),
                },
                &token,
            ))
            .await
            .context("GetStore")?
            .into_inner();
        anyhow::ensure!(
            reply.store.is_some_and(|s| s.store_id == id),
            "GetStore answered another store"
        );
        Ok(())
    }

    /// One call along `path`.
    pub async fn call(&self, path: Path) -> Result<()> {
        match path {
            Path::Floor => self.round_trip().await,
            Path::Direct => self.direct().await,
            Path::GatewayGrpc => self.gateway_grpc().await,
            Path::GatewayRest => self.gateway_rest().await,
        }
    }

    /// The floor: a health check on the profile service, one loopback gRPC round trip with
    /// no work behind it. The gateway adds one such round trip by construction (caller →
    /// gateway → service), so its added latency cannot be below this.
    pub async fn round_trip(&self) -> Result<()> {
        self.health
            .clone()
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .context("health check")?;
        Ok(())
    }

    /// (a) directly over gRPC to the profile service.
    pub async fn direct(&self) -> Result<()> {
        Self::grpc(
            self.direct.clone(),
            self.token.clone(),
            self.store_id.clone(),
        )
        .await
    }

    /// (b) through the gateway, gRPC passthrough.
    pub async fn gateway_grpc(&self) -> Result<()> {
        Self::grpc(
            self.via_gateway.clone(),
            self.token.clone(),
            self.store_id.clone(),
        )
        .await
    }

    /// (c) through the gateway, REST/JSON `GET /v1/stores/{id}`.
    pub async fn gateway_rest(&self) -> Result<()> {
        let body = self
            .http
            .get(&self.rest_url)
            .bearer_auth(&self.token)
            .send()
            .await
            .context("GET /v1/stores/{id}")?
            .error_for_status()
            .context("GET /v1/stores/{id} status")?
            .text()
            .await
            .context("GET /v1/stores/{id} body")?;
        anyhow::ensure!(body.contains(&self.store_id), "REST answered another store");
        Ok(())
    }
}

/// One path's measurements.
#[derive(Debug, Clone, Copy)]
pub struct PathResult {
    pub latency: LatencySummary,
    pub calls_per_s: f64,
}

/// The throughput share of direct a forwarder keeps when each call costs it what one gRPC
/// round trip with no work costs (a server end and a client end, as the gateway has), on the
/// same cores: per-call costs add, `1 / (1/direct + 1/floor)`.
pub fn forwarding_ceiling(direct_per_s: f64, floor_per_s: f64) -> f64 {
    if direct_per_s <= 0.0 || floor_per_s <= 0.0 {
        return 0.0;
    }
    let through = 1.0 / (1.0 / direct_per_s + 1.0 / floor_per_s);
    through / direct_per_s
}

/// The table's rows and their verdicts, against the direct path; `floor` is a gRPC round
/// trip that does no work ([`Callers::round_trip`]).
pub fn rows(
    floor: &PathResult,
    direct: &PathResult,
    paths: &[(&str, PathResult)],
) -> (Vec<Vec<String>>, Vec<Verdict>) {
    // The latency and throughput rows of a reference path.
    let reference = |name: &str, path: &PathResult| {
        [
            vec![
                format!("{name} p50 / p99 (c=1)"),
                format!("{:.0} / {:.0} µs", path.latency.p50_us, path.latency.p99_us),
                "reference".into(),
                "-".into(),
            ],
            vec![
                format!("{name} throughput (c={CONCURRENCY})"),
                format!("{:.0} calls/s", path.calls_per_s),
                "reference".into(),
                "-".into(),
            ],
        ]
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    rows.extend(reference(
        "loopback gRPC round trip, no work (health check)",
        floor,
    ));
    rows.extend(reference("direct gRPC", direct));
    rows.push(vec![
        "a forwarder costing one no-op round trip per call, on these cores".into(),
        format!(
            "{:.0}% of direct",
            forwarding_ceiling(direct.calls_per_s, floor.calls_per_s) * 100.0
        ),
        "reference (ceiling)".into(),
        "-".into(),
    ]);
    let mut verdicts = Vec::new();
    for (name, path) in paths {
        let added_us = path.latency.p50_us - direct.latency.p50_us;
        let added = Verdict::from_bool(added_us <= MAX_ADDED_P50_US);
        let share = path.calls_per_s / direct.calls_per_s.max(f64::MIN_POSITIVE);
        let kept = Verdict::from_bool(share >= MIN_THROUGHPUT_SHARE);
        rows.push(vec![
            format!("{name} p50 / p99 (c=1)"),
            format!("{:.0} / {:.0} µs", path.latency.p50_us, path.latency.p99_us),
            "-".into(),
            "-".into(),
        ]);
        rows.push(vec![
            format!("{name} added p50"),
            format!("{added_us:.0} µs"),
            format!("≤ {MAX_ADDED_P50_US:.0} µs"),
            added.label().into(),
        ]);
        rows.push(vec![
            format!("{name} throughput (c={CONCURRENCY})"),
            format!(
                "{:.0} calls/s ({:.0}% of direct)",
                path.calls_per_s,
                share * 100.0
            ),
            format!("≥ {:.0}% of direct", MIN_THROUGHPUT_SHARE * 100.0),
            kept.label().into(),
        ]);
        verdicts.extend([added, kept]);
    }
    (rows, verdicts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p50_us: f64, calls_per_s: f64) -> PathResult {
        PathResult {
            latency: LatencySummary {
                p50_us,
                p99_us: p50_us * 2.0,
                max_us: p50_us * 3.0,
                samples: 10,
            },
            calls_per_s,
        }
    }

    #[test]
    fn verdicts_judge_added_latency_and_throughput_share() {
        let direct = path(100.0, 10_000.0);
        let (rows, verdicts) = rows(
            &path(60.0, 30_000.0),
            &direct,
            &[
                ("fast", path(240.0, 7_500.0)),
                ("slow", path(260.0, 6_900.0)),
            ],
        );
        assert_eq!(
            verdicts,
            vec![Verdict::Pass, Verdict::Pass, Verdict::Fail, Verdict::Fail]
        );
        assert_eq!(rows.len(), 5 + 3 * 2);
    }

    #[test]
    fn a_forwarder_costing_a_round_trip_keeps_what_the_per_call_costs_leave() {
        // Direct 10,000/s is 100 µs a call; a no-op round trip at 30,000/s is 33.3 µs more.
        let share = forwarding_ceiling(10_000.0, 30_000.0);
        assert!((share - 0.75).abs() < 1e-9, "{share}");
        assert_eq!(forwarding_ceiling(0.0, 30_000.0), 0.0);
    }

    #[test]
    fn scale_small_is_shorter() {
        let small = Scale::from_env(|_| Some("small".into()));
        let full = Scale::from_env(|_| None);
        assert!(small.latency_calls < full.latency_calls);
        assert!(small.throughput_for < full.throughput_for);
    }
}
