//! Scheduled work, each job on the kit's leased loop (`maitre_kit::jobs::LeasedJob`: every
//! replica runs the loop, the lease holder does the round, released at shutdown): the daily
//! schedule of time-driven rules and the daily refit of the models. The rounds are use cases
//! in `app`; this module only says when they run and under which lease.

use std::{future::Future, sync::Arc, time::Duration};

use chrono::Utc;
use maitre_kit::jobs::{FirstRound, LeasedJob};

use crate::{
    app::{recompute::recompute_time_dependent, refit_job::refit_due_chains},
    state::Deps,
    storage::catalog::chains_with_time_rules,
};

/// The lease of the time-driven rules' schedule.
const TIME_RULES_LEASE: &str = "tagging:time-rules";
/// The lease of the daily refit.
const REFIT_LEASE: &str = "tagging:model-refit";
const LEASE_TTL: Duration = Duration::from_secs(30 * 60);
const WAKE_EVERY: Duration = Duration::from_secs(5 * 60);

/// The daily schedule of time-driven rules (seed 002 §2: "60天未到店" turns true with no
/// event): every replica wakes every few minutes, one holds the leader lease, and it
/// recomputes each chain once per chain-local day, soon after local midnight. Runs until
/// `shutdown`.
pub async fn run_time_rules(deps: Arc<Deps>, holder: String, shutdown: impl Future<Output = ()>) {
    let job = LeasedJob::new(TIME_RULES_LEASE, WAKE_EVERY)
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

/// The daily refit of every chain under a leader lease (one replica refits; each chain once
/// per chain-local day, `app::refit_job::refit_due_chains`). Runs until `shutdown`.
pub async fn run_daily_refit(deps: Arc<Deps>, holder: String, shutdown: impl Future<Output = ()>) {
    let job = LeasedJob::new(REFIT_LEASE, WAKE_EVERY)
        .holder(holder)
        .ttl(LEASE_TTL)
        .first_round(FirstRound::AfterInterval);
    job.run(deps.runtime.coord.clone(), shutdown, |_| {
        refit_due_chains(&deps)
    })
    .await;
}
