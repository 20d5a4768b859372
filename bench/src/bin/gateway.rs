//! `cargo run --release -p maitre-bench --bin gateway`: the gateway's added latency and its
//! throughput against direct gRPC on profile `GetStore` (issue 8, "Benchmarks"); see
//! `bench/README.md`. Exits 0 whether or not the targets are met (`MAITRE_BENCH_STRICT=1`:
//! exit 1 on a miss).

use anyhow::Result;
use maitre_bench::gateway::{CONCURRENCY, Callers, PathResult, Scale, Services, load, rows};
use maitre_bench::report::{Verdict, closing_line, markdown_table};

async fn measure<F, Fut>(scale: &Scale, call: F) -> Result<PathResult>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let latency = load::sequential(scale.warmups, scale.latency_calls, call.clone()).await?;
    let calls_per_s = load::throughput(CONCURRENCY, scale.throughput_for, call).await?;
    Ok(PathResult {
        latency,
        calls_per_s,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let scale = Scale::from_env(|name| std::env::var(name).ok());
    println!(
        "gateway: profile GetStore, embedded backend (SQLite), loopback; scale {} \
         ({} timed calls at c=1, {:?} at c={CONCURRENCY})\n",
        scale.name, scale.latency_calls, scale.throughput_for
    );
    let services = Services::start().await?;
    let callers = Callers::new(&services).await?;
    let floor = {
        let c = callers.clone();
        load::sequential(scale.warmups, scale.latency_calls, move || {
            let c = c.clone();
            async move { c.round_trip().await }
        })
        .await?
    };
    let direct = {
        let c = callers.clone();
        measure(&scale, move || {
            let c = c.clone();
            async move { c.direct().await }
        })
        .await?
    };
    let grpc = {
        let c = callers.clone();
        measure(&scale, move || {
            let c = c.clone();
            async move { c.gateway_grpc().await }
        })
        .await?
    };
    let rest = {
        let c = callers.clone();
        measure(&scale, move || {
            let c = c.clone();
            async move { c.gateway_rest().await }
        })
        .await?
    };
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
