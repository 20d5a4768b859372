//! `cargo run --release -p maitre-bench --bin notification`: campaign dispatch throughput on
//! PostgreSQL + Redis, and tag added → message enqueued across the services (issue 7,
//! "Benchmarks"); see `bench/README.md`. Exits 0 whether or not the targets are met
//! (`MAITRE_BENCH_STRICT=1`: exit 1 on a miss).

use anyhow::Result;
use maitre_bench::notification::{MAX_END_TO_END_P99_MS, Scale, dispatch, end_to_end, rate_row};
use maitre_bench::report::{Verdict, closing_line, markdown_table};
use maitre_kit::testing::Backend;

#[tokio::main]
async fn main() -> Result<()> {
    let scale = Scale::from_env(|name| std::env::var(name).ok());
    println!(
        "notification: PostgreSQL + Redis, loopback; scale {} ({} customers in the segment, \
         {} dispatchers, log provider; {} customers tagged end to end)\n",
        scale.name,
        scale.segment_customers,
        dispatch::DISPATCHERS,
        scale.tagged_customers
    );
    let mut rows = Vec::new();
    let mut verdicts = Vec::new();

    let run = dispatch::run(scale.segment_customers, scale.phase_limit).await?;
    let (row, verdict) = rate_row("campaign enqueue", run.enqueued, run.customers, run.enqueue);
    rows.push(row);
    verdicts.push(verdict);
    let (row, verdict) = rate_row(
        "campaign dispatch decisions",
        run.decided,
        run.enqueued.max(run.customers),
        run.dispatch,
    );
    rows.push(row);
    verdicts.push(verdict);
    rows.push(vec![
        "messages sent to the log provider".into(),
        format!("{} of {}", run.sent, run.customers),
        "all".into(),
        "-".into(),
    ]);

    // Shown now: the end-to-end part below can still fail.
    print!(
        "{}",
        markdown_table(&["operation", "measured", "target", "verdict"], &rows)
    );
    let services = end_to_end::Services::start(Backend::Production).await;
    let e2e = end_to_end::run(&services, scale.tagged_customers).await?;
    let p99_ms = e2e.latency.p99_us / 1_000.0;
    let verdict = Verdict::from_bool(e2e.missing == 0 && p99_ms <= MAX_END_TO_END_P99_MS);
    rows.push(vec![
        format!(
            "tag added → message enqueued p50 / p99 ({} customers)",
            e2e.latency.samples
        ),
        format!(
            "{:.1} / {:.1} ms (max {:.1} ms, {} never appeared)",
            e2e.latency.p50_us / 1_000.0,
            p99_ms,
            e2e.latency.max_us / 1_000.0,
            e2e.missing
        ),
        format!("p99 ≤ {MAX_END_TO_END_P99_MS:.0} ms"),
        verdict.label().into(),
    ]);
    verdicts.push(verdict);

    print!(
        "{}",
        markdown_table(&["operation", "measured", "target", "verdict"], &rows)
    );
    println!("\n{}", closing_line("notification", &verdicts));
    let strict = std::env::var("MAITRE_BENCH_STRICT").is_ok_and(|v| v == "1");
    if strict && verdicts.contains(&Verdict::Fail) {
        std::process::exit(1);
    }
    Ok(())
}
