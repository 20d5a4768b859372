//! Lock reviews (价值客户锁定 for customers who spent before the rule): turning the value lock
//! on, or changing its threshold or window, evaluates existing customers — a lock is
//! otherwise earned only by the contact that crosses the threshold, so a guest already past
//! it would never be locked. Same job shape as a bulk transfer (`app::bulk`): a job row
//! with progress, the plan (every owned, unlocked customer whose counted spend may reach
//! the threshold) persisted with it, each line finished in the transaction that locks the
//! customer (so a resumed job never evaluates anyone twice), every lock recorded in the
//! history with the actor who changed the policy and the job id. Execution is leased: the
//! replica that starts a review runs it, and any replica resumes running reviews after a
//! crash (`crate::jobs`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Change, ChangeContext, Engine, retry_conflicts};
use crate::domain::HistoryReason;
use crate::domain::explain::Facts;
use crate::domain::ownership::lock_reached_threshold;
use crate::domain::policy::SpendWindow;
use crate::domain::value_lock::counted_spend_fen;
use crate::error::Error;
use crate::storage::cache;
use crate::storage::contacts;
use crate::storage::customers::{self, CustomerRow};
use crate::storage::jobs::{self, JobRow, KIND_LOCK_REVIEW};

/// Customers evaluated per batch between progress updates.
const BATCH: i64 = 200;
/// Candidates read per page when planning.
const PAGE: u64 = 1000;
/// How long one replica holds a review's lease without renewing it (a batch takes far less).
const LEASE_TTL: Duration = Duration::from_secs(120);
/// Plan line states: locked by the review, or evaluated and left as they were.
const LOCKED: &str = "moved";
const UNCHANGED: &str = "done";

fn lease_name(chain_id: &str, job_id: &str) -> String {
    format!("lock-review:{chain_id}:{job_id}")
}

impl Engine {
    /// Starts a review of the chain's customers (one store's when `store_id` is set) against
    /// the value lock now in force; returns the job at once, the locks follow in the
    /// background.
    pub async fn start_lock_review(
        self: &Arc<Self>,
        chain_id: &str,
        store_id: &str,
        actor: &str,
    ) -> Result<JobRow, Error> {
        let db = &self.runtime.db;
        let store = (!store_id.is_empty()).then_some(store_id);
        // Plan everyone whose counted spend reaches their store's threshold (the row's count
        // is exact for lifetime spend and an upper bound for a window, which the execution
        // recounts as of then).
        let mut plan: Vec<(String, String)> = Vec::new();
        let mut after = String::new();
        loop {
            let page = customers::unlocked_reaching(db, chain_id, store, 1, &after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after.clone_from(&last.customer_id);
            for row in &page {
                let policy = self.effective_policy(chain_id, &row.store_id).await?;
                if policy
                    .rules
                    .value_lock()
                    .is_some_and(|lock| row.counted_spend_fen >= lock.threshold_fen())
                {
                    plan.push((row.customer_id.clone(), row.manager_id.clone()));
                }
            }
        }
        let job = JobRow {
            job_id: uuid::Uuid::now_v7().to_string(),
            kind: KIND_LOCK_REVIEW.to_owned(),
            request_id: format!("lock-review:{}", uuid::Uuid::now_v7()),
            from_manager_id: String::new(),
            state: if plan.is_empty() {
                "succeeded".to_owned()
            } else {
                "running".to_owned()
            },
            total: i64::try_from(plan.len()).unwrap_or(i64::MAX),
            done: 0,
            failed: 0,
            error: String::new(),
            actor: actor.to_owned(),
        };
        let txn = maitre_kit::db::begin_write(db).await?;
        jobs::insert(&txn, chain_id, &job, Utc::now().timestamp_micros()).await?;
        for (customer_id, owner) in &plan {
            jobs::insert_move(&txn, chain_id, &job.job_id, customer_id, owner).await?;
        }
        txn.commit().await?;
        let (engine, chain, running) = (self.clone(), chain_id.to_owned(), job.clone());
        if running.state == "running" {
            tokio::spawn(async move { engine.run_lock_review_leased(&chain, &running).await });
        }
        Ok(job)
    }

    /// The review job and the customers it locked per owner.
    pub async fn lock_review(
        &self,
        chain_id: &str,
        job_id: &str,
    ) -> Result<(JobRow, BTreeMap<String, i64>), Error> {
        let db = &self.runtime.db;
        let job = jobs::get(db, chain_id, job_id)
            .await?
            .filter(|job| job.kind == KIND_LOCK_REVIEW)
            .ok_or_else(|| Error::not_found("lock review", job_id))?;
        let locked = jobs::moved_per_manager(db, chain_id, job_id)
            .await?
            .into_iter()
            .collect();
        Ok((job, locked))
    }

    /// Runs the review while holding its lease (another replica running it is left to it).
    pub(crate) async fn run_lock_review_leased(&self, chain_id: &str, job: &JobRow) {
        let coord = self.runtime.coord.clone();
        let (lease, holder) = (
            lease_name(chain_id, &job.job_id),
            uuid::Uuid::now_v7().to_string(),
        );
        match coord.lease_acquire(&lease, &holder, LEASE_TTL).await {
            Ok(Some(_)) => {}
            Ok(None) => return,
            Err(error) => {
                // Coordination down: plan lines are finished once each, so running
                // without the lease may repeat no lock; it only shares the work.
                tracing::warn!(%error, "lock review lease unavailable; running without it");
            }
        }
        if let Err(error) = self.run_lock_review(chain_id, job, &lease, &holder).await {
            tracing::warn!(%error, job_id = %job.job_id, "lock review interrupted; it is resumed");
        }
        let _ = coord.lease_release(&lease, &holder).await;
    }

    async fn run_lock_review(
        &self,
        chain_id: &str,
        job: &JobRow,
        lease: &str,
        holder: &str,
    ) -> Result<(), Error> {
        let db = &self.runtime.db;
        loop {
            let pending = jobs::pending_moves(db, chain_id, &job.job_id, BATCH).await?;
            for (customer_id, _) in &pending {
                self.review_customer(chain_id, job, customer_id).await?;
            }
            let txn = maitre_kit::db::begin_write(db).await?;
            let Some(current) = jobs::refresh_progress(&txn, chain_id, &job.job_id).await? else {
                return Ok(());
            };
            txn.commit().await?;
            if pending.is_empty() || current.state != "running" {
                return Ok(());
            }
            let _ = self
                .runtime
                .coord
                .lease_acquire(lease, holder, LEASE_TTL)
                .await;
        }
    }

    async fn review_customer(
        &self,
        chain_id: &str,
        job: &JobRow,
        customer_id: &str,
    ) -> Result<(), Error> {
        retry_conflicts(|| async {
            let fence = self.lock_customer(chain_id, customer_id).await;
            let coord = self.runtime.coord.as_ref();
            cache::forget_owner(coord, chain_id, customer_id).await;
            let result = self.try_review_customer(chain_id, job, customer_id).await;
            if let Ok(Some(row)) = &result {
                cache::publish_owner(coord, chain_id, row).await;
            }
            self.unlock_customer(chain_id, customer_id, fence).await;
            result
        })
        .await
        .map(|_| ())
    }

    /// Evaluates one planned customer as they are now and finishes their plan line in the
    /// same transaction as the lock; `None` when nothing was written here.
    async fn try_review_customer(
        &self,
        chain_id: &str,
        job: &JobRow,
        customer_id: &str,
    ) -> Result<Option<CustomerRow>, Error> {
        let db = &self.runtime.db;
        let now = Utc::now();
        let row = customers::get(db, chain_id, customer_id).await?;
        let mut decided = None;
        if let Some(row) = row {
            let policy = self.effective_policy(chain_id, &row.store_id).await?;
            let spend = counted_spend_now(db, chain_id, &row, &policy.rules, now).await?;
            decided = lock_reached_threshold(&row.state(), &policy.rules, spend, now)
                .map(|decision| (row, decision));
        }
        let txn = maitre_kit::db::begin_write(db).await?;
        let locked_to = decided.as_ref().map(|(row, _)| row.manager_id.as_str());
        let state = if decided.is_some() { LOCKED } else { UNCHANGED };
        if !jobs::finish_review(&txn, chain_id, &job.job_id, customer_id, state, locked_to).await? {
            txn.rollback().await?;
            return Ok(None); // another executor of the same review did it
        }
        let Some((row, decision)) = decided else {
            txn.commit().await?;
            return Ok(None);
        };
        let mut after = row.clone();
        after.set_state(&decision.next);
        after.reason = HistoryReason::ValueLock.as_str().to_owned();
        let context = ChangeContext {
            actor: job.actor.clone(),
            facts: Facts {
                job_id: job.job_id.clone(),
                ..Facts::default()
            },
            ..ChangeContext::default()
        };
        let change = Change {
            before: &row,
            after,
            history: &decision.history,
            context: &context,
        };
        let written = self.write_change(&txn, chain_id, change).await?;
        txn.commit().await?;
        self.runtime.events.committed();
        Ok(Some(written))
    }
}

/// The customer's counted spend as of `now` under `policy`'s window, read through `conn`
/// (lifetime: the row's count, which every contact with spend keeps current).
pub(crate) async fn counted_spend_now(
    conn: &impl sea_orm::ConnectionTrait,
    chain_id: &str,
    row: &CustomerRow,
    policy: &crate::domain::policy::AssignmentPolicy,
    now: DateTime<Utc>,
) -> Result<i64, Error> {
    let window = policy
        .value_lock()
        .map_or(SpendWindow::Lifetime, |lock| lock.window());
    let SpendWindow::LastDays(days) = window else {
        return Ok(row.counted_spend_fen);
    };
    let since = now - chrono::Duration::days(i64::from(days));
    let entries = contacts::spend_entries(
        conn,
        chain_id,
        &row.customer_id,
        "",
        Some(since.timestamp_micros()),
        now.timestamp_micros(),
    )
    .await?;
    Ok(counted_spend_fen(&entries, window, now))
}
