//! `cargo run --release -p maitre-bench --bin gateway`: the gateway's added latency and its
//! throughput against direct gRPC on profile `GetStore` (issue 8, "Benchmarks"); see
//! `bench/README.md`. Exits 0 whether or not the targets are met (`MAITRE_BENCH_STRICT=1`:
//! exit 1 on a miss).

use anyhow::Result;
use maitre_bench::gateway::{CONCURRENCY, Callers, Path, PathResult, Scale, Services, load, rows};
use maitre_bench::report::{Verdict, closing_line, markdown_table};

/// Throughput is measured in this many rounds, each giving every path an equal window in
/// turn: the VM's speed drifts by tens of percent over seconds, and paths measured one
/// after the other would be compared across that drift rather than side by side.
const ROUNDS: u32 = 10;

#[tokio::main]
async fn main() -> Result<()> {
    let scale = Scale::from_env(|name| std::env::var(name).ok());
    println!(
        "gateway: profile GetStore, embedded backend (SQLite), loopback; scale {} \
         ({} timed calls at c=1, {:?} at c={CONCURRENCY} in {ROUNDS} interleaved rounds)\n",
        scale.name, scale.latency_calls, scale.throughput_for
    );
    let services = Services::start().await?;
    let callers = Callers::new(&services).await?;
    let mut latency = Vec::with_capacity(Path::ALL.len());
    for path in Path::ALL {
        let c = callers.clone();
        latency.push(
            load::sequential(scale.warmups, scale.latency_calls, move || {
                let c = c.clone();
                async move { c.call(path).await }
            })
            .await?,
        );
    }
    let window = scale.throughput_for / ROUNDS;
    let mut per_s = [0.0; Path::ALL.len()];
    for _ in 0..ROUNDS {
        for (sum, path) in per_s.iter_mut().zip(Path::ALL) {
            let c = callers.clone();
            *sum += load::throughput(CONCURRENCY, window, move || {
                let c = c.clone();
                async move { c.call(path).await }
            })
            .await?;
        }
    }
    let [floor, direct, grpc, rest] = [0, 1, 2, 3].map(|i| PathResult {
        latency: latency[i],
        calls_per_s: per_s[i] / f64::from(ROUNDS),
    });
    let (table, verdicts) = rows(
        &floor,
        &direct,
        &[("gateway gRPC", grpc), ("gateway REST/JSON", rest)],
    );
    print!(
        "{}",
        markdown_table(&["operation", "measured", "target", "verdict"], &table)
    );
    println!("\n{}", closing_line("gateway", &verdicts));
    let strict = std::env::var("MAITRE_BENCH_STRICT").is_ok_and(|v| v == "1");
    if strict && verdicts.contains(&Verdict::Fail) {
        std::process::exit(1);
    }
    Ok(())
}
