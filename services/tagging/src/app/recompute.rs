//! Full recompute of every applied rule of a chain (after a rule change, on activation, on
//! demand, and daily for time-driven rules) as a job with progress: customers in batches of
//! numbers, one transaction per batch, through the same [`Evaluator`] as the live path.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{
    apply::apply_changes,
    batch::{BATCH_CUSTOMERS, Batch},
    evaluate::Evaluator,
    zones::{CHAIN_TIME_ZONE, LocalDays, today_at, today_in, zone_named},
};
use crate::{
    error::Result,
    state::Deps,
    storage::{
        begin_write,
        facts::lock_range,
        jobs::{
            JobRow, STATE_FAILED, STATE_PENDING, STATE_RUNNING, STATE_SUCCEEDED, insert_job,
            update_job,
        },
        places::{chain_zones, home_zones_in_range, set_time_run_day, time_run_day},
        roster::{roster, set_time_rules_day},
    },
};

/// Job kind of a full recompute.
pub const RECOMPUTE_JOB: &str = "recompute";

/// What a recompute did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecomputeOutcome {
    pub customers: u64,
    pub changes: u64,
}

/// Recomputes every customer of the chain as of `now`; `progress(done, total)` after each
/// batch.
pub async fn recompute_chain(
    deps: &Deps,
    chain_id: &str,
    now: DateTime<Utc>,
    mut progress: impl FnMut(u64, u64),
) -> Result<RecomputeOutcome> {
    let db = &deps.runtime.db;
    let set = deps.rules.load(db, chain_id).await?;
    let (next_number, _) = roster(db, chain_id).await?;
    let mut local_days = LocalDays::new(now);
    let mut outcome = RecomputeOutcome::default();
    let mut evaluator = Evaluator::new(&set);
    let mut from = 0u32;
    while from < next_number {
        let to = from.saturating_add(BATCH_CUSTOMERS).min(next_number);
        let txn = begin_write(db).await?;
        lock_range(&txn, chain_id, from, to).await?;
        let batch = Batch::load(&txn, chain_id, from, to).await?;
        // Each customer's day is their home store's (app::zones), as on the live path.
        let home_zones = home_zones_in_range(&txn, chain_id, from, to).await?;
        let mut changes = Vec::new();
        for i in 0..batch.customers.len() {
            if let Some(input) = batch.input(i) {
                let local_today = local_days.day_in(home_zones.get(&input.customer.customer_id));
                changes.extend(evaluator.changes(&input, local_today));
            }
        }
        let applied = apply_changes(
            &txn,
            &deps.runtime.events,
            chain_id,
            changes,
            Utc::now().timestamp_micros(),
        )
        .await?;
        txn.commit().await?;
        deps.runtime.events.committed();
        deps.bitmaps.apply(chain_id, &applied);
        outcome.customers += batch.customers.len() as u64;
        outcome.changes += applied.len() as u64;
        progress(u64::from(to), u64::from(next_number));
        from = to;
        // Let other writers in between batches: SQLite has one write lock, and a recompute
        // that re-takes it at once starves live tagging and API calls.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    Ok(outcome)
}

/// Records a pending recompute job and runs it in the background; returns the job.
pub async fn start_recompute(deps: &Arc<Deps>, chain_id: &str) -> Result<JobRow> {
    let db = &deps.runtime.db;
    let (total, _) = roster(db, chain_id).await?;
    let job = JobRow {
        job_id: uuid_v7(),
        kind: RECOMPUTE_JOB.to_owned(),
        state: STATE_PENDING,
        done: 0,
        total: i64::from(total),
        failed: 0,
        error: String::new(),
    };
    insert_job(db, chain_id, &job, Utc::now().timestamp_micros()).await?;
    let (deps, chain, mut running) = (deps.clone(), chain_id.to_owned(), job.clone());
    tokio::spawn(async move {
        running.state = STATE_RUNNING;
        let db = deps.runtime.db.clone();
        let _ = update_job(&db, &chain, &running, Utc::now().timestamp_micros()).await;
        let (tx, mut rx) = tokio::sync::watch::channel((0u64, 0u64));
        let work = recompute_chain(&deps, &chain, Utc::now(), move |done, total| {
            let _ = tx.send((done, total));
        });
        tokio::pin!(work);
        let result = loop {
            tokio::select! {
                result = &mut work => break result,
                Ok(()) = rx.changed() => {
                    let (done, total) = *rx.borrow_and_update();
                    running.done = done as i64;
                    running.total = total as i64;
                    let _ = update_job(&db, &chain, &running, Utc::now().timestamp_micros()).await;
                }
            }
        };
        match result {
            Ok(outcome) => {
                running.state = STATE_SUCCEEDED;
                running.done = outcome.customers as i64;
                running.total = outcome.customers as i64;
            }
            Err(e) => {
                tracing::error!(chain = %chain, error = %e, "recompute failed");
                running.state = STATE_FAILED;
                running.error = "recompute failed; see the service log".to_owned();
            }
        }
        if let Err(e) = update_job(&db, &chain, &running, Utc::now().timestamp_micros()).await {
            tracing::error!(chain = %chain, error = %e, "recording the recompute job failed");
        }
    });
    Ok(job)
}

/// Re-evaluates a chain's rules because time moved (`days_since_last_visit >= 60`,
/// `birthday_within(7d)`, windows): a full recompute soon after local midnight in each
/// zone of the chain's stores (and Asia/Shanghai, the default), once per local day of
/// each. Returns `None` when no zone has a new day or when no applied rule depends on time.
pub async fn recompute_time_dependent(
    deps: &Deps,
    chain_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<RecomputeOutcome>> {
    let db = &deps.runtime.db;
    let mut zones = chain_zones(db, chain_id).await?;
    zones.retain(|z| zone_named(z).name() == z.as_str());
    zones.push(CHAIN_TIME_ZONE.name().to_owned());
    zones.sort();
    zones.dedup();
    let mut due = Vec::new();
    for zone in zones {
        let local_today = i64::from(today_in(now, zone_named(&zone)));
        if time_run_day(db, chain_id, &zone).await? < local_today {
            due.push((zone, local_today));
        }
    }
    if due.is_empty() {
        return Ok(None);
    }
    let set = deps.rules.load(db, chain_id).await?;
    if !set.has_time_dependent_rule() {
        return Ok(None);
    }
    let outcome = recompute_chain(deps, chain_id, now, |_, _| {}).await?;
    for (zone, local_today) in due {
        set_time_run_day(db, chain_id, &zone, local_today).await?;
    }
    set_time_rules_day(db, chain_id, i64::from(today_at(now))).await?;
    Ok(Some(outcome))
}

pub(crate) fn uuid_v7() -> String {
    uuid::Uuid::now_v7().to_string()
}
