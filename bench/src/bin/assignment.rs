//! `cargo run --release -p maitre-bench --bin assignment`: assign-on-contact throughput on
//! the fast path against raw Redis, and when the owner changes (issue 4, "Benchmarks").
//! Needs PostgreSQL and Redis (the `maitre_kit::testing` defaults). Exits 0 when targets are
//! missed; exits 1 only when the run itself fails.

use maitre_bench::assignment::{Scale, run::run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let report = run(&Scale::from_env()).await?;
    println!("{report}");
    Ok(())
}
