//! Refits as jobs (RefitModels) and the round of the daily refit (each chain once per
//! chain-local day; `jobs` runs it under a leader lease, so one replica refits).

use std::{sync::Arc, time::Duration};

use chrono::Utc;

use super::{
    catch_up::{profile_lag, wait_for_profile},
    recompute::uuid_v7,
    refit::{RefitOutcome, check_chain_history, refit_chain},
    zones::chain_today,
};
use crate::{
    error::Result,
    state::Deps,
    storage::{
        begin_write,
        jobs::{
            JobRow, STATE_FAILED, STATE_PENDING, STATE_RUNNING, STATE_SUCCEEDED, insert_job,
            update_job,
        },
        models::{chains_with_customers, load_model, save_model},
    },
};

/// Job kind of a refit.
pub const REFIT_JOB: &str = "refit";
/// How long `RefitModels` waits for tagging to catch up with profile before it refuses
/// (UNAVAILABLE, naming the lag): well inside the gateway's 30 s request timeout.
pub const CATCH_UP_LIMIT: Duration = Duration::from_secs(20);

/// Waits (up to [`CATCH_UP_LIMIT`]) until tagging has applied every profile event of the
/// chain — UNAVAILABLE naming the lag if not, so a refit after an import fits all of it —
/// checks the chain's history (FAILED_PRECONDITION naming the minimum, nothing written),
/// records a pending refit job and runs it in the background.
pub async fn start_refit(deps: &Arc<Deps>, chain_id: &str) -> Result<JobRow> {
    let db = &deps.runtime.db;
    wait_for_profile(deps, chain_id, CATCH_UP_LIMIT).await?;
    check_chain_history(deps, chain_id, Utc::now()).await?;
    let job = JobRow {
        job_id: uuid_v7(),
        kind: REFIT_JOB.to_owned(),
        state: STATE_PENDING,
        done: 0,
        total: 1,
        failed: 0,
        error: String::new(),
    };
    insert_job(db, chain_id, &job, Utc::now().timestamp_micros()).await?;
    let (deps, chain, mut running) = (deps.clone(), chain_id.to_owned(), job.clone());
    tokio::spawn(async move {
        let db = deps.runtime.db.clone();
        running.state = STATE_RUNNING;
        let _ = update_job(&db, &chain, &running, Utc::now().timestamp_micros()).await;
        let result = refit_chain(&deps, &chain, Utc::now()).await;
        if let Err(e) = &result {
            tracing::error!(chain = %chain, error = %e, "refit failed");
        }
        let running = finished_job(running, &result);
        if let Err(e) = update_job(&db, &chain, &running, Utc::now().timestamp_micros()).await {
            tracing::error!(chain = %chain, error = %e, "recording the refit job failed");
        }
    });
    Ok(job)
}

/// The refit job once `result` is in: SUCCEEDED only for a fit that converged; a fit that did not
/// (the previous parameters kept) or a refit that failed is FAILED with why — never SUCCEEDED
/// carrying an error.
fn finished_job(mut job: JobRow, result: &Result<RefitOutcome>) -> JobRow {
    match result {
        Ok(outcome) if outcome.converged => {
            job.state = STATE_SUCCEEDED;
            job.done = 1;
            job.error = String::new();
        }
        Ok(outcome) => {
            job.state = STATE_FAILED;
            job.failed = 1;
            job.error = if outcome.note.is_empty() {
                "the visit model did not converge; previous parameters kept".into()
            } else {
                outcome.note.clone()
            };
        }
        Err(e) => {
            job.state = STATE_FAILED;
            job.failed = 1;
            job.error = e.to_string();
        }
    }
    job
}

/// One pass: refits every chain not yet attempted today. A chain with too little history
/// is marked attempted so it is not retried every few minutes.
pub async fn refit_due_chains(deps: &Deps) {
    let db = &deps.runtime.db;
    let now = Utc::now();
    let chains = match chains_with_customers(db).await {
        Ok(chains) => chains,
        Err(e) => {
            tracing::warn!(error = %e, "listing chains to refit failed");
            return;
        }
    };
    for chain in chains {
        // The chain's own day (its stores' zones), as `refit_chain` stores it.
        let today = match chain_today(db, &chain, now).await {
            Ok(day) => i64::from(day),
            Err(e) => {
                tracing::warn!(chain = %chain, error = %e, "reading the chain's zones failed");
                continue;
            }
        };
        let model = match load_model(db, &chain).await {
            Ok(model) => model,
            Err(e) => {
                tracing::warn!(chain = %chain, error = %e, "loading the model failed");
                continue;
            }
        };
        if model.as_ref().is_some_and(|m| m.refit_day >= today) {
            continue;
        }
        // A chain whose profile events are still arriving (an import) waits for the next
        // wake-up rather than fitting part of its data; not marked attempted.
        match profile_lag(deps, &chain).await {
            Ok(Some(lag)) if lag.pending_events > 0 => {
                tracing::info!(chain = %chain, pending_events = lag.pending_events, "daily refit waits for tagging to catch up with profile");
                continue;
            }
            Err(e) => {
                tracing::info!(chain = %chain, error = %e, "daily refit waits: tagging's lag behind profile is unknown");
                continue;
            }
            Ok(_) => {}
        }
        match refit_chain(deps, &chain, now).await {
            Ok(outcome) => {
                tracing::info!(chain = %chain, customers = outcome.customers, converged = outcome.converged, "models refitted")
            }
            Err(e) => {
                tracing::info!(chain = %chain, error = %e, "daily refit skipped");
                let mut marked = model.unwrap_or_default();
                marked.refit_day = today;
                let saved = async {
                    let txn = begin_write(db).await?;
                    save_model(&txn, &chain, &marked).await?;
                    txn.commit().await
                };
                if let Err(e) = saved.await {
                    tracing::warn!(chain = %chain, error = %e, "marking the refit attempt failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TaggingError;

    fn job() -> JobRow {
        JobRow {
            job_id: "j1".into(),
            kind: REFIT_JOB.into(),
            state: STATE_RUNNING,
            done: 0,
            total: 1,
            failed: 0,
            error: String::new(),
        }
    }

    fn outcome(converged: bool, note: &str) -> RefitOutcome {
        RefitOutcome {
            customers: 120,
            converged,
            note: note.into(),
            changes: 3,
        }
    }

    #[test]
    fn only_a_converged_fit_succeeds() {
        let done = finished_job(job(), &Ok(outcome(true, "calibration on 30 days")));
        assert_eq!(
            (done.state, done.done, done.failed),
            (STATE_SUCCEEDED, 1, 0)
        );
        assert_eq!(done.error, "", "a note is no error");
        let stuck = finished_job(
            job(),
            &Ok(outcome(false, "did not converge; previous parameters kept")),
        );
        assert_eq!(
            (stuck.state, stuck.done, stuck.failed),
            (STATE_FAILED, 0, 1)
        );
        assert!(stuck.error.contains("did not converge"), "{stuck:?}");
        let refused = finished_job(
            job(),
            &Err(TaggingError::precondition("chain", "too little history")),
        );
        assert_eq!(refused.state, STATE_FAILED);
        assert!(refused.error.contains("too little history"), "{refused:?}");
    }
}
