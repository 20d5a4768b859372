//! `cargo run --release -p maitre-bench --bin neighbour`: a noisy neighbour (issue 21). Two
//! chains on one system (every service and the gateway in process, embedded backend): chain A
//! reads its guests at a steady concurrency, first alone, then while chain B sends oversized,
//! malformed and slow requests at full speed, in interleaved rounds so both conditions see
//! the same machine. Prints A's error rate and p99 solo and with the neighbour; target: no
//! error of A's, and A's p99 with the neighbour within 2× of its solo p99.
//! `MAITRE_BENCH_SCALE=quick` shortens the rounds; exits 0 either way unless
//! `MAITRE_BENCH_STRICT=1`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use maitre_bench::gateway::load::summarize;
use maitre_bench::report::{Verdict, closing_line, markdown_table};
use maitre_kit::{
    auth::Role,
    testing::{Backend, token},
};
use maitre_tests::{System, rest::Rest, setup};
use serde_json::json;

/// A's callers, each in a closed loop paced to [`A_INTERVAL`].
const A_CONCURRENCY: usize = 4;
/// How often each of A's callers starts a call: 4 × 20/s = 80 calls/s (4,800 a minute), inside
/// the gateway's default limits (6,000 a minute per token and per chain), so the only errors
/// A may see are ones B causes. (Unpaced, A alone outran its own limit and measured 429s.)
const A_INTERVAL: Duration = Duration::from_millis(50);
/// B's callers, each sending one kind of hostile request as fast as it is answered.
const B_CALLERS_PER_KIND: usize = 2;

#[tokio::main]
async fn main() -> Result<()> {
    let quick = std::env::var("MAITRE_BENCH_SCALE").is_ok_and(|s| s == "quick");
    let (rounds, window) = if quick {
        (3, Duration::from_secs(1))
    } else {
        (6, Duration::from_secs(3))
    };
    println!(
        "neighbour: chain A lists its guests (GET /v1/customers, c={A_CONCURRENCY}, one call per \
         {A_INTERVAL:?} each) alone and \
         while chain B sends oversized, malformed and slow requests; embedded backend, \
         {rounds} interleaved rounds of {window:?} per condition\n"
    );
    let system = System::start(Backend::Embedded).await;
    let url = system.gateway.url.clone();
    let a_token = token("chain-a", Role::HqAdmin, "hq-a", &[]);
    let a = Rest::new(&url, &a_token);
    let store = setup::store(&a, "A main", "A1").await;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for i in 0..20 {
        let event = json!({"event": {"channel": "EVENT_CHANNEL_POS",
            "externalId": format!("a-{i}"), "kind": "CONTACT_KIND_VISIT", "storeId": store,
            "identityKeys": [{"kind": "IDENTITY_KIND_PHONE", "value": format!("+86138001{i:05}")}],
            "occurredAt": now, "partySize": 2}});
        a.post("/v1/events", event).await.ok();
    }
    let b_token = token("chain-b", Role::FrontDesk, "desk-b", &[]);
    // Each chain's callers run on threads of their own, as the apps of two chains run on
    // their own machines: the system's runtime serves requests only, so what A measures is
    // what the gateway and services let B take from it, not B's client building 1 MB bodies
    // on the workers that serve A (the cores are still shared).
    let a_callers = callers_runtime("chain-a", 1)?;
    let b_callers = callers_runtime("chain-b", 1)?;

    let mut solo = Condition::default();
    let mut noisy = Condition::default();
    let mut hostile_sent = 0u64;
    let outcomes: Outcomes = Arc::default();
    for _ in 0..rounds {
        solo.add(measure_a(a_callers.handle(), &url, &a_token, window).await);
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let neighbours =
            spawn_neighbour(b_callers.handle(), &url, &b_token, &stop, &sent, &outcomes);
        noisy.add(measure_a(a_callers.handle(), &url, &a_token, window).await);
        stop.store(true, Ordering::Relaxed);
        for task in neighbours {
            let _ = task.await;
        }
        hostile_sent += sent.load(Ordering::Relaxed);
    }

    // A runtime may not be dropped inside another's async context.
    a_callers.shutdown_background();
    b_callers.shutdown_background();
    let solo_p99 = solo.p99_ms();
    let noisy_p99 = noisy.p99_ms();
    let within = noisy_p99 <= 2.0 * solo_p99;
    let verdicts = [
        Verdict::from_bool(solo.errors == 0 && noisy.errors == 0),
        Verdict::from_bool(within),
    ];
    let rows = vec![
        vec![
            "A alone".into(),
            solo.samples.len().to_string(),
            solo.error_rate(),
            format!("{:.2} ms", solo.p50_ms()),
            format!("{solo_p99:.2} ms"),
            "-".into(),
        ],
        vec![
            format!("A with B ({hostile_sent} hostile requests)"),
            noisy.samples.len().to_string(),
            noisy.error_rate(),
            format!("{:.2} ms", noisy.p50_ms()),
            format!("{noisy_p99:.2} ms"),
            format!("{:.2}× solo p99 (target ≤ 2×)", noisy_p99 / solo_p99),
        ],
    ];
    print!(
        "{}",
        markdown_table(
            &[
                "condition",
                "A's calls",
                "A's errors",
                "p50",
                "p99",
                "p99 vs solo"
            ],
            &rows
        )
    );
    println!(
        "\nA's errors: target 0 ({}); p99 with B within 2× solo ({})",
        verdicts[0].label(),
        verdicts[1].label()
    );
    let outcomes = outcomes.lock().unwrap_or_else(|e| e.into_inner());
    let seen: Vec<String> = outcomes.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
    println!("B's answers: {}", seen.join(", "));
    println!("{}", closing_line("neighbour", &verdicts));
    let strict = std::env::var("MAITRE_BENCH_STRICT").is_ok_and(|v| v == "1");
    if strict && verdicts.contains(&Verdict::Fail) {
        std::process::exit(1);
    }
    Ok(())
}

#[derive(Default)]
struct Condition {
    samples: Vec<Duration>,
    errors: u64,
}

impl Condition {
    fn add(&mut self, (samples, errors): (Vec<Duration>, u64)) {
        self.samples.extend(samples);
        self.errors += errors;
    }
    fn quantile_ms(
        &self,
        pick: impl Fn(&maitre_bench::gateway::load::LatencySummary) -> f64,
    ) -> f64 {
        summarize(self.samples.clone()).map_or(f64::NAN, |s| pick(&s) / 1000.0)
    }
    fn p50_ms(&self) -> f64 {
        self.quantile_ms(|s| s.p50_us)
    }
    fn p99_ms(&self) -> f64 {
        self.quantile_ms(|s| s.p99_us)
    }
    fn error_rate(&self) -> String {
        let calls = self.samples.len() as u64 + self.errors;
        format!(
            "{} ({:.3}%)",
            self.errors,
            100.0 * self.errors as f64 / calls.max(1) as f64
        )
    }
}

/// What B was answered, by kind and status (or transport error).
type Outcomes = Arc<std::sync::Mutex<std::collections::BTreeMap<String, u64>>>;

/// A runtime of `threads` workers for one chain's callers.
fn callers_runtime(name: &str, threads: usize) -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()?)
}

/// A's callers for `window` (on `callers`): every call's latency, and how many failed.
async fn measure_a(
    callers_rt: &tokio::runtime::Handle,
    url: &str,
    token: &str,
    window: Duration,
) -> (Vec<Duration>, u64) {
    let deadline = Instant::now() + window;
    let mut callers = Vec::new();
    for _ in 0..A_CONCURRENCY {
        let http = maitre_kit::http::client();
        let (url, token) = (format!("{url}/v1/customers?pageSize=20"), token.to_owned());
        callers.push(callers_rt.spawn(async move {
            let mut samples = Vec::new();
            let mut errors = 0u64;
            let mut pace = tokio::time::interval(A_INTERVAL);
            pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while Instant::now() < deadline {
                pace.tick().await;
                let started = Instant::now();
                let answer = http.get(&url).bearer_auth(&token).send().await;
                let ok = match answer {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        ok && response.bytes().await.is_ok()
                    }
                    Err(_) => false,
                };
                if ok {
                    samples.push(started.elapsed());
                } else {
                    errors += 1;
                }
            }
            (samples, errors)
        }));
    }
    let mut samples = Vec::new();
    let mut errors = 0;
    for caller in callers {
        if let Ok((s, e)) = caller.await {
            samples.extend(s);
            errors += e;
        }
    }
    (samples, errors)
}

/// The hostile kinds chain B sends, each answered (refused) before the next.
#[derive(Clone, Copy, Debug)]
enum Hostile {
    /// A 70 KB `tracestate` header (issue 21 item 1).
    HugeHeader,
    /// A 1 MB body of 100,000 dietary habits.
    OversizedBody,
    /// Bytes that are not JSON.
    Malformed,
    /// A body trickled in small pieces over a second.
    Slow,
    /// 10,000 member-card keys.
    ManyKeys,
}

fn spawn_neighbour(
    callers_rt: &tokio::runtime::Handle,
    url: &str,
    token: &str,
    stop: &Arc<AtomicBool>,
    sent: &Arc<AtomicU64>,
    outcomes: &Outcomes,
) -> Vec<tokio::task::JoinHandle<()>> {
    let kinds = [
        Hostile::HugeHeader,
        Hostile::OversizedBody,
        Hostile::Malformed,
        Hostile::Slow,
        Hostile::ManyKeys,
    ];
    let mut tasks = Vec::new();
    for kind in kinds {
        for _ in 0..B_CALLERS_PER_KIND {
            let http = maitre_kit::http::client();
            let (url, token) = (url.to_owned(), token.to_owned());
            let (stop, sent, outcomes) = (stop.clone(), sent.clone(), outcomes.clone());
            tasks.push(callers_rt.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let outcome = match hostile(&http, &url, &token, kind).await {
                        Ok(status) => format!("{kind:?} {}", status.as_u16()),
                        Err(_) => format!("{kind:?} transport error"),
                    };
                    *outcomes
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(outcome)
                        .or_default() += 1;
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
    }
    tasks
}

async fn hostile(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    kind: Hostile,
) -> reqwest::Result<reqwest::StatusCode> {
    let request = match kind {
        Hostile::HugeHeader => http
            .get(format!("{url}/v1/stores"))
            .header("tracestate", format!("k={}", "v".repeat(70 * 1024))),
        Hostile::OversizedBody => {
            let habits = vec!["少辣"; 100_000];
            http.post(format!("{url}/v1/customers"))
                .json(&json!({"profile": {"dietaryHabits": habits}, "requestId": "b"}))
        }
        Hostile::Malformed => http
            .post(format!("{url}/v1/events"))
            .header("content-type", "application/json")
            .body(vec![b'{'; 4096]),
        Hostile::Slow => {
            let pieces = futures::stream::unfold(0u32, |i| async move {
                if i >= 10 {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                Some((Ok::<_, std::io::Error>(vec![b' '; 16]), i + 1))
            });
            http.post(format!("{url}/v1/events"))
                .header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(pieces))
        }
        Hostile::ManyKeys => {
            let keys: Vec<_> = (0..10_000)
                .map(|i| json!({"kind": "IDENTITY_KIND_MEMBER_CARD", "value": format!("c{i}")}))
                .collect();
            http.post(format!("{url}/v1/customers"))
                .json(&json!({"identityKeys": keys, "requestId": "k"}))
        }
    };
    let response = request.bearer_auth(token).send().await?;
    let status = response.status();
    response.bytes().await.map(|_| status)
}
