//! `cargo run --release -p maitre-bench --bin proxies`: Maitre's gateway side by side with
//! nginx, HAProxy and grpc-gateway in front of the same profile `GetStore` (issue 26); see
//! `bench/README.md`. Needs the release `maitre` binary beside this one (`make bench` builds
//! it) or `MAITRE_BIN`. Exits 0 whether or not the targets are met (`MAITRE_BENCH_STRICT=1`:
//! exit 1 on a miss).

use std::{
    collections::HashMap,
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{Context, Result, bail};
use maitre_bench::{
    proxies::{
        CONCURRENCIES, Cell, Contender, Owned, Request, Sample, Target, build_grpc_gateway,
        clock_ticks_per_s, fold, free_port, get_store_frame, h2load, haproxy_conf, installed,
        nginx_conf, verdicts, wait_for_port,
    },
    report::{Verdict, markdown_table},
};
use maitre_kit::{auth::Role, client::outgoing, testing::token};
use maitre_proto::profile::v1::{self as pb, profile_service_client::ProfileServiceClient};

/// Rate limits high enough never to answer 429 (the defaults would throttle the load).
const UNLIMITED_PER_MINUTE: &str = "1000000000";

/// A temp directory removed at the end.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn maitre_binary() -> Result<PathBuf> {
    if let Ok(path) = std::env::var("MAITRE_BIN") {
        return Ok(PathBuf::from(path));
    }
    let beside = std::env::current_exe()?
        .parent()
        .context("bench binary has no directory")?
        .join("maitre");
    if !beside.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p maitre` (make bench does) \
             or set MAITRE_BIN",
            beside.display()
        );
    }
    Ok(beside)
}

/// A `maitre serve <service>` process on `port`.
fn serve(
    maitre: &Path,
    dir: &Path,
    service: &str,
    port: u16,
    env: &[(&str, String)],
    rust_log: &str,
) -> Result<Owned> {
    let mut command = Command::new(maitre);
    command
        .args(["serve", service])
        .env("MAITRE_LISTEN", format!("127.0.0.1:{port}"))
        .env("MAITRE_DATA_DIR", dir.join("data"))
        .env("RUST_LOG", rust_log)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("MAITRE_DATABASE_URL")
        .env_remove("MAITRE_REDIS_URL");
    for (k, v) in env {
        command.env(k, v);
    }
    let process = Owned::spawn(service, &mut command, &dir.join(format!("{service}.log")))?;
    wait_for_port(port, Duration::from_secs(60))?;
    Ok(process)
}

struct Scale {
    rounds: usize,
    window: Duration,
}

fn main() -> Result<()> {
    let scale = match std::env::var("MAITRE_BENCH_SCALE").as_deref() {
        Ok("small") => Scale {
            rounds: 3,
            window: Duration::from_secs(1),
        },
        _ => Scale {
            rounds: 5,
            window: Duration::from_secs(2),
        },
    };
    if !installed("h2load") {
        println!(
            "proxies: SKIPPED — h2load is not installed (apt-get install nghttp2-client)\n\
             proxies: 0 passed, 0 failed"
        );
        return Ok(());
    }
    let maitre = maitre_binary()?;
    let dir =
        TempDir(std::env::temp_dir().join(format!("maitre-bench-proxies-{}", std::process::id())));
    fs::create_dir_all(dir.0.join("data"))?;
    let dir_path = dir.0.clone();
    let runtime = tokio::runtime::Runtime::new()?;

    // The upstream: profile alone on SQLite; GetStore calls nothing else.
    let profile_port = free_port()?;
    let mut profile = serve(
        &maitre,
        &dir_path,
        "profile",
        profile_port,
        &[("MAITRE_ASSIGNMENT_URL", "http://127.0.0.1:1".into())],
        "warn",
    )?;
    let profile_url = format!("http://127.0.0.1:{profile_port}");
    let token = token("bench-chain", Role::HqAdmin, "bench", &[]);
    let store_id = runtime.block_on(create_store(&profile_url, &token))?;
    let frame = dir_path.join("get-store.grpc");
    fs::write(&frame, get_store_frame(&store_id))?;
    let request = Request {
        token: token.clone(),
        store_id: store_id.clone(),
        frame,
    };

    let mut owned: Vec<Owned> = Vec::new();
    let mut targets: Vec<Target> = vec![Target {
        contender: Contender::Direct,
        port: profile_port,
        pid: None,
    }];
    let mut skipped: Vec<(Contender, String)> = Vec::new();

    // Maitre's gateway: every edge feature on, its access log to a file, limits raised.
    let gateway_port = free_port()?;
    let disabled = maitre_kit::config::DISABLED_UPSTREAM.to_owned();
    let gateway = serve(
        &maitre,
        &dir_path,
        "gateway",
        gateway_port,
        &[
            ("MAITRE_PROFILE_URL", profile_url.clone()),
            ("MAITRE_ASSIGNMENT_URL", disabled.clone()),
            ("MAITRE_TAGGING_URL", disabled.clone()),
            ("MAITRE_NOTIFICATION_URL", disabled),
            ("MAITRE_RATE_LIMIT_PER_MINUTE", UNLIMITED_PER_MINUTE.into()),
            (
                "MAITRE_CHAIN_RATE_LIMIT_PER_MINUTE",
                UNLIMITED_PER_MINUTE.into(),
            ),
            // The load is one chain at up to c=64: a share below that would queue the
            // bench's own calls and measure the share, not the forwarding path.
            ("MAITRE_CHAIN_CONCURRENCY", "256".into()),
        ],
        "info",
    )?;
    for contender in [Contender::GatewayGrpc, Contender::GatewayRest] {
        targets.push(Target {
            contender,
            port: gateway_port,
            pid: Some(gateway.pid()),
        });
    }
    owned.push(gateway);

    if installed("nginx") {
        let port = free_port()?;
        let conf = dir_path.join("nginx.conf");
        fs::write(&conf, nginx_conf(&dir_path, port, profile_port))?;
        let mut c = Command::new("nginx");
        c.arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir_path.join("nginx-error.log"));
        match Owned::spawn("nginx", &mut c, &dir_path.join("nginx.log"))
            .and_then(|p| wait_for_port(port, Duration::from_secs(10)).map(|()| p))
        {
            Ok(p) => {
                targets.push(Target {
                    contender: Contender::Nginx,
                    port,
                    pid: Some(p.pid()),
                });
                owned.push(p);
            }
            Err(e) => skipped.push((Contender::Nginx, format!("{e:#}"))),
        }
    } else {
        skipped.push((Contender::Nginx, "nginx is not installed".into()));
    }

    if installed("haproxy") {
        let port = free_port()?;
        let conf = dir_path.join("haproxy.cfg");
        fs::write(&conf, haproxy_conf(port, profile_port))?;
        let mut c = Command::new("haproxy");
        c.arg("-db").arg("-f").arg(&conf);
        match Owned::spawn("haproxy", &mut c, &dir_path.join("haproxy.log"))
            .and_then(|p| wait_for_port(port, Duration::from_secs(10)).map(|()| p))
        {
            Ok(p) => {
                targets.push(Target {
                    contender: Contender::Haproxy,
                    port,
                    pid: Some(p.pid()),
                });
                owned.push(p);
            }
            Err(e) => skipped.push((Contender::Haproxy, format!("{e:#}"))),
        }
    } else {
        skipped.push((Contender::Haproxy, "haproxy is not installed".into()));
    }

    let proto_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto");
    let started = std::time::Instant::now();
    match build_grpc_gateway(&dir_path, &proto_root) {
        Ok(binary) => {
            eprintln!("grpc-gateway built in {:.0?}", started.elapsed());
            let port = free_port()?;
            let mut c = Command::new(binary);
            c.arg(format!("127.0.0.1:{port}"))
                .arg(format!("127.0.0.1:{profile_port}"));
            match Owned::spawn("grpc-gateway", &mut c, &dir_path.join("grpc-gateway.log"))
                .and_then(|p| wait_for_port(port, Duration::from_secs(10)).map(|()| p))
            {
                Ok(p) => {
                    targets.push(Target {
                        contender: Contender::GrpcGateway,
                        port,
                        pid: Some(p.pid()),
                    });
                    owned.push(p);
                }
                Err(e) => skipped.push((Contender::GrpcGateway, format!("{e:#}"))),
            }
        }
        Err(e) => skipped.push((Contender::GrpcGateway, format!("could not build: {e:#}"))),
    }

    // Every contender must answer the store asked for before it is measured.
    let mut checked = Vec::new();
    for target in targets {
        match runtime.block_on(check(&target, &token, &store_id)) {
            Ok(()) => checked.push(target),
            Err(e) => skipped.push((target.contender, format!("wrong answer: {e:#}"))),
        }
    }
    let targets = checked;
    profile.check_alive(&dir_path.join("profile.log"))?;

    println!(
        "proxies: profile GetStore on SQLite (`maitre serve profile`, release), {} interleaved \
         rounds of {:?} per contender and concurrency (h2load, c connections × 1 stream); \
         medians; CPU = utime+stime of the proxy process(es) from /proc/<pid>/stat\n",
        scale.rounds, scale.window
    );
    for (c, why) in &skipped {
        println!("SKIPPED {}: {why}", c.label());
    }

    let ticks = clock_ticks_per_s();
    // Warm-up: one short untimed pass over every contender (connections, caches, JIT-free
    // but lazily connected upstreams).
    for target in &targets {
        h2load(target, &request, 16, Duration::from_secs(1), &dir_path)?;
    }
    let mut samples: HashMap<(Contender, usize), Vec<Sample>> = HashMap::new();
    for round in 0..scale.rounds {
        for (ci, &clients) in CONCURRENCIES.iter().enumerate() {
            // Rotate the order each round so no contender always runs first or after the same
            // neighbour (the VM's speed drifts over seconds).
            let n = targets.len();
            for k in 0..n {
                let target = &targets[(k + round + ci) % n];
                let (run, cpu) = h2load(target, &request, clients, scale.window, &dir_path)?;
                if run.failed > 0 || run.succeeded == 0 {
                    bail!(
                        "{} at c={clients}: {} failed, {} succeeded",
                        target.contender.label(),
                        run.failed,
                        run.succeeded
                    );
                }
                let cpu_ms = cpu.map(|t| t as f64 / ticks * 1e3 / run.succeeded as f64 * 1e3);
                samples
                    .entry((target.contender, ci))
                    .or_default()
                    .push((run, cpu_ms));
            }
        }
        eprintln!("round {}/{} done", round + 1, scale.rounds);
    }
    profile.check_alive(&dir_path.join("profile.log"))?;

    let cells: HashMap<(Contender, usize), Cell> =
        samples.iter().map(|(k, v)| (*k, fold(v))).collect();
    let cell = |c: Contender, i: usize| cells.get(&(c, i)).copied();
    let direct = |i: usize| cell(Contender::Direct, i).map_or(0.0, |c| c.per_s);
    let mut rows = Vec::new();
    for contender in Contender::ALL {
        if cell(contender, 0).is_none() {
            continue;
        }
        let by_c = |f: &dyn Fn(Cell, usize) -> String| {
            (0..CONCURRENCIES.len())
                .map(|i| cell(contender, i).map_or("-".into(), |c| f(c, i)))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let cpu = by_c(&|c, _| c.cpu_ms_per_1000.map_or("-".into(), |v| format!("{v:.0}")));
        rows.push(vec![
            contender.label().to_owned(),
            if contender == Contender::Direct {
                "-".into()
            } else {
                format!("{cpu} ms")
            },
            format!(
                "{:.0} µs",
                cell(contender, 0).map_or(f64::NAN, |c| c.p50_us)
            ),
            by_c(&|c, _| format!("{:.0}", c.per_s)),
            by_c(&|c, i| format!("{:.2}", c.per_s / direct(i).max(f64::MIN_POSITIVE))),
        ]);
    }
    print!(
        "{}",
        markdown_table(
            &[
                "contender",
                "CPU per 1,000 calls (c=1/16/64)",
                "p50 at c=1",
                "calls/s (c=1/16/64)",
                "throughput ÷ direct (c=1/16/64)",
            ],
            &rows
        )
    );
    let judged = verdicts(cell);
    // What no REST front end can beat here: a proxy costing nothing keeps direct's
    // throughput, so gateway REST ÷ grpc-gateway cannot exceed direct ÷ grpc-gateway.
    let ceilings: Vec<String> = (1..CONCURRENCIES.len())
        .filter_map(|i| {
            let go = cell(Contender::GrpcGateway, i)?.per_s;
            Some(format!(
                "{:.2}× at c={}",
                direct(i) / go.max(f64::MIN_POSITIVE),
                CONCURRENCIES[i]
            ))
        })
        .collect();
    if !ceilings.is_empty() {
        println!(
            "\nceiling of the REST throughput target: a proxy costing nothing (direct) reaches {} \
             grpc-gateway's calls/s on these cores (profile and h2load share them)",
            ceilings.join(", ")
        );
    }
    println!();
    for (what, verdict) in &judged {
        println!("- {what}: {}", verdict.label());
    }
    let passed = judged.iter().filter(|(_, v)| *v == Verdict::Pass).count();
    let failed = judged.iter().filter(|(_, v)| *v == Verdict::Fail).count();
    let skipped_n = judged.len() - passed - failed;
    let line: Vec<String> = judged
        .iter()
        .map(|(w, v)| {
            format!(
                "{w}: {}",
                if *v == Verdict::Pass {
                    "met"
                } else if *v == Verdict::Fail {
                    "NOT met"
                } else {
                    "skipped"
                }
            )
        })
        .collect();
    println!(
        "\nproxies: {passed} passed, {failed} failed, {skipped_n} skipped — {}",
        line.join("; ")
    );
    drop(owned);
    drop(profile);
    let strict = std::env::var("MAITRE_BENCH_STRICT").is_ok_and(|v| v == "1");
    if strict && failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

async fn create_store(profile_url: &str, token: &str) -> Result<String> {
    let channel = maitre_kit::client::lazy_channel(profile_url).context("channel")?;
    let mut client = ProfileServiceClient::new(channel);
    let store = pb::Store {
        name: "静安店".into(),
        time_zone: "Asia/Shanghai".into(),
        code: "SH-001".into(),
        ..Default::default()
    };
    let created = client
        .create_store(outgoing(
            pb::CreateStoreRequest {
                store: Some(store),
                request_id: "bench-store".into(),
            },
            token,
        ))
        .await
        .context("CreateStore")?
        .into_inner();
    Ok(created.store.context("no store")?.store_id)
}

/// One call through `target`, checked to answer the store asked for.
async fn check(target: &Target, token: &str, store_id: &str) -> Result<()> {
    let url = format!("http://127.0.0.1:{}", target.port);
    if target.contender.is_rest() {
        let body = maitre_kit::http::client()
            .get(format!("{url}/v1/stores/{store_id}"))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        anyhow::ensure!(body.contains(store_id), "REST answered {body}");
        return Ok(());
    }
    let channel = maitre_kit::client::lazy_channel(&url).context("channel")?;
    let reply = ProfileServiceClient::new(channel)
        .get_store(outgoing(
            pb::GetStoreRequest {
                store_id: store_id.to_owned(),
            },
            token,
        ))
        .await?
        .into_inner();
    anyhow::ensure!(
        reply.store.is_some_and(|s| s.store_id == store_id),
        "GetStore answered another store"
    );
    Ok(())
}
