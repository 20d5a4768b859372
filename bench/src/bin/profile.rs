//! `cargo run --release -p maitre-bench --bin profile`: event ingestion, batch import and
//! identity look-up against the real profile service (issue 3, "Benchmarks"). Needs
//! PostgreSQL and Redis (the `maitre_kit::testing` defaults). Exits 0 when targets are missed;
//! exits 1 only when the run itself fails.

use maitre_bench::profile::{Scale, run::run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let report = run(&Scale::from_env()).await?;
    println!("{report}");
    Ok(())
}
