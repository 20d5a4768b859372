//! The daily schedule of time-driven rules (seed 002 §2: "60天未到店" turns true with no
//! event): every replica wakes every few minutes, one holds the leader lease, and it
//! recomputes each chain once per chain-local day, soon after local midnight.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use maitre_kit::jobs::{FirstRound, LeasedJob};

use super::recompute::recompute_time_dependent;
use crate::{state::Deps, storage::catalog::chains_with_time_rules};

const LEASE: &str = "tagging:time-rules";
const LEASE_TTL: Duration = Duration::from_secs(30 * 60);
const WAKE_EVERY: Duration = Duration::from_secs(5 * 60);

/// Runs until `shutdown`.
pub async fn run_time_rules(
    deps: Arc<Deps>,
    holder: String,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let job = LeasedJob::new(LEASE, WAKE_EVERY)
        .holder(holder)
        .ttl(LEASE_TTL)
        .first_round(FirstRound::AfterInterval);
    job.run(deps.runtime.coord.clone(), shutdown, |_| run_once(&deps))
        .await;
}

/// One pass over every chain with time-dependent rules.
pub async fn run_once(deps: &Deps) {
    let chains = match chains_with_time_rules(&deps.runtime.db).await {
        Ok(chains) => chains,
        Err(e) => {
            tracing::warn!(error = %e, "listing chains with time rules failed");
            return;
        }
    };
    for chain in chains {
        match recompute_time_dependent(deps, &chain, Utc::now()).await {
            Ok(Some(outcome)) => {
                tracing::info!(chain = %chain, changes = outcome.changes, "time-driven rules re-evaluated")
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(chain = %chain, error = %e, "time-driven recompute failed"),
        }
    }
}
