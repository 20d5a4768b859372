//! Bulk transfer (seed 四, 一键批量转移): a departing manager's customers to one manager or
//! spread evenly. The domain plans it once; the plan is persisted with the job row (keyed by
//! the client's `request_id`), then executed in batches. Each move marks its plan line done
//! in the same transaction as the ownership change, so a crashed or retried job (same
//! `request_id`) resumes where it stopped and never moves a customer twice. Customers who
//! left the manager meanwhile are skipped (counted as `failed`).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use maitre_proto::common::v1::{JobProgress, JobState};
use maitre_proto::events::v1::{EventScope, TransferProgress, event::Payload};

use super::{Change, ChangeContext, Engine, retry_conflicts};
use crate::domain::explain::Facts;
use crate::domain::roster::{Roster, Tally};
use crate::domain::transfer::{
    BulkTargets, BulkTransferRequest, PlannedMove, apply_planned_move, plan_bulk_transfer,
};
use crate::domain::{CustomerId, ManagerId};
use crate::error::Error;
use crate::storage::cache;
use crate::storage::customers::{self, CustomerRow};
use crate::storage::jobs::{self, JobRow};
use crate::storage::managers;

/// Moves per batch between progress reports.
const BATCH: i64 = 100;

pub fn progress(job: &JobRow) -> JobProgress {
    let state = match job.state.as_str() {
        "running" => JobState::Running,
        "succeeded" => JobState::Succeeded,
        "failed" => JobState::Failed,
        _ => JobState::Pending,
    };
    JobProgress {
        job_id: job.job_id.clone(),
        state: state as i32,
        done: job.done,
        total: job.total,
        failed: job.failed,
        error: job.error.clone(),
    }
}

impl Engine {
    /// Starts the job for `request_id`, or resumes the existing one. Returns it at once;
    /// the moves run in the background.
    pub async fn start_bulk_transfer(
        self: &Arc<Self>,
        chain_id: &str,
        from_manager_id: &str,
        to_manager_ids: &[String],
        request_id: &str,
        actor: &maitre_kit::audit::Actor,
    ) -> Result<JobRow, Error> {
        let db = &self.runtime.db;
        if let Some(job) = jobs::by_request(db, chain_id, request_id).await? {
            self.spawn_bulk(chain_id, &job);
            return Ok(job);
        }
        let from = managers::get(db, chain_id, from_manager_id)
            .await?
            .ok_or_else(|| Error::not_found("manager", from_manager_id))?;
        let mut roster_rows = vec![from.to_domain()];
        for target in to_manager_ids {
            if target == from_manager_id || roster_rows.iter().any(|m| m.id.as_str() == target) {
                continue;
            }
            let row = managers::get(db, chain_id, target)
                .await?
                .ok_or_else(|| Error::not_found("manager", target))?;
            roster_rows.push(row.to_domain());
        }
        let mut owned = Tally::new();
        for manager in &roster_rows {
            if let Some(row) = managers::get(db, chain_id, manager.id.as_str()).await? {
                owned.insert(manager.id.clone(), row.owned());
            }
        }
        let roster = Roster::new(roster_rows).map_err(Error::rule("to_manager_ids"))?;
        let customers = all_customers(self, chain_id, from_manager_id).await?;
        let targets = match to_manager_ids {
            [one] => BulkTargets::ToOne(ManagerId::new(one)),
            many => BulkTargets::SpreadEvenly(many.iter().map(ManagerId::new).collect()),
        };
        let from_id = ManagerId::new(from_manager_id);
        let plan = plan_bulk_transfer(&BulkTransferRequest {
            from: &from_id,
            customers: &customers,
            targets: &targets,
            roster: &roster,
            owned_customers: &owned,
        })
        .map_err(Error::rule("to_manager_ids"))?;
        let job = JobRow {
            job_id: uuid::Uuid::now_v7().to_string(),
            kind: jobs::KIND_BULK_TRANSFER.to_owned(),
            request_id: request_id.to_owned(),
            from_manager_id: from_manager_id.to_owned(),
            state: "running".to_owned(),
            total: i64::try_from(plan.moves.len()).unwrap_or(i64::MAX),
            done: 0,
            failed: 0,
            error: String::new(),
            actor: actor.id.clone(),
        };
        let txn = maitre_kit::db::begin_write(db).await?;
        if !jobs::insert(&txn, chain_id, &job, Utc::now().timestamp_micros()).await? {
            txn.rollback().await?;
            let job = jobs::by_request(db, chain_id, request_id)
                .await?
                .ok_or_else(|| Error::not_found("bulk transfer", request_id))?;
            self.spawn_bulk(chain_id, &job);
            return Ok(job);
        }
        for PlannedMove { customer_id, to } in &plan.moves {
            jobs::insert_move(
                &txn,
                chain_id,
                &job.job_id,
                customer_id.as_str(),
                to.as_str(),
            )
            .await?;
        }
        self.emit_progress(&txn, chain_id, &job).await?;
        // The job is the change; each move is in the ownership history with the job's actor.
        maitre_kit::audit::record(
            &txn,
            actor,
            chain_id,
            maitre_kit::audit::Change {
                action: "assignment.bulk_transfer.start",
                target_type: "bulk_transfer",
                target_id: &job.job_id,
                before: None,
                after: Some(serde_json::json!({
                    "jobId": job.job_id,
                    "fromManagerId": from_manager_id,
                    "toManagerIds": to_manager_ids,
                    "customers": job.total,
                    "requestId": request_id,
                })),
            },
        )
        .await?;
        txn.commit().await?;
        self.runtime.events.committed();
        self.spawn_bulk(chain_id, &job);
        Ok(job)
    }

    /// The job and the customers moved per target manager.
    pub async fn bulk_transfer(
        &self,
        chain_id: &str,
        job_id: &str,
    ) -> Result<(JobRow, BTreeMap<String, i64>), Error> {
        let db = &self.runtime.db;
        let job = jobs::get(db, chain_id, job_id)
            .await?
            .filter(|job| job.kind == jobs::KIND_BULK_TRANSFER)
            .ok_or_else(|| Error::not_found("bulk transfer", job_id))?;
        let moved = jobs::moved_per_manager(db, chain_id, job_id)
            .await?
            .into_iter()
            .collect();
        Ok((job, moved))
    }

    fn spawn_bulk(self: &Arc<Self>, chain_id: &str, job: &JobRow) {
        if job.state != "running" {
            return;
        }
        let (engine, chain_id, job) = (self.clone(), chain_id.to_owned(), job.clone());
        tokio::spawn(async move {
            if let Err(error) = engine.run_bulk(&chain_id, &job).await {
                tracing::warn!(%error, job_id = %job.job_id, "bulk transfer interrupted; the same request_id resumes it");
            }
        });
    }

    async fn run_bulk(&self, chain_id: &str, job: &JobRow) -> Result<(), Error> {
        let db = &self.runtime.db;
        loop {
            let pending = jobs::pending_moves(db, chain_id, &job.job_id, BATCH).await?;
            for (customer_id, to) in &pending {
                self.bulk_move(chain_id, job, customer_id, to).await?;
            }
            let txn = maitre_kit::db::begin_write(db).await?;
            let Some(current) = jobs::refresh_progress(&txn, chain_id, &job.job_id).await? else {
                return Ok(());
            };
            self.emit_progress(&txn, chain_id, &current).await?;
            txn.commit().await?;
            self.runtime.events.committed();
            if pending.is_empty() || current.state != "running" {
                return Ok(());
            }
        }
    }

    async fn bulk_move(
        &self,
        chain_id: &str,
        job: &JobRow,
        customer_id: &str,
        to: &str,
    ) -> Result<(), Error> {
        let context = ChangeContext {
            actor: job.actor.clone(),
            capacity_field: Some("to_manager_ids"),
            facts: Facts {
                job_id: job.job_id.clone(),
                ..Default::default()
            },
            ..Default::default()
        };
        let result = retry_conflicts(|| async {
            let fence = self.lock_customer(chain_id, customer_id).await;
            let coord = self.runtime.coord.as_ref();
            cache::forget_owner(coord, chain_id, customer_id).await;
            let result = self
                .try_bulk_move(chain_id, job, customer_id, to, &context)
                .await;
            if let Ok(Some(row)) = &result {
                cache::publish_owner(coord, chain_id, row).await;
            }
            self.unlock_customer(chain_id, customer_id, fence).await;
            result
        })
        .await;
        match result {
            Ok(_) => Ok(()),
            // A target that filled up or left meanwhile: skip this customer, keep going.
            Err(Error::Rule { .. }) | Err(Error::NotFound { .. }) => {
                let txn = maitre_kit::db::begin_write(&self.runtime.db).await?;
                jobs::finish_move(&txn, chain_id, &job.job_id, customer_id, "skipped").await?;
                txn.commit().await?;
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    async fn try_bulk_move(
        &self,
        chain_id: &str,
        job: &JobRow,
        customer_id: &str,
        to: &str,
        context: &ChangeContext,
    ) -> Result<Option<CustomerRow>, Error> {
        let row = customers::get(&self.runtime.db, chain_id, customer_id).await?;
        let txn = maitre_kit::db::begin_write(&self.runtime.db).await?;
        let still_theirs = row
            .as_ref()
            .is_some_and(|row| row.manager_id == job.from_manager_id);
        let state = if still_theirs { "moved" } else { "skipped" };
        if !jobs::finish_move(&txn, chain_id, &job.job_id, customer_id, state).await? {
            txn.rollback().await?;
            return Ok(None); // another executor of the same job did it
        }
        let Some(row) = row.filter(|_| still_theirs) else {
            txn.commit().await?;
            return Ok(None);
        };
        let now = Utc::now();
        let planned = PlannedMove {
            customer_id: CustomerId::new(customer_id),
            to: ManagerId::new(to),
        };
        let decision = apply_planned_move(&row.state(), &planned, now);
        let mut after = row.clone();
        after.set_state(&decision.next);
        after.reason = crate::domain::HistoryReason::BulkTransfer
            .as_str()
            .to_owned();
        after.since_us = now.timestamp_micros();
        let change = Change {
            before: &row,
            after,
            history: &decision.history,
            context,
        };
        let written = self.write_change(&txn, chain_id, change).await?;
        txn.commit().await?;
        self.runtime.events.committed();
        Ok(Some(written))
    }

    async fn emit_progress(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        chain_id: &str,
        job: &JobRow,
    ) -> Result<(), Error> {
        let scope = EventScope {
            manager_id: job.from_manager_id.clone(),
            ..Default::default()
        };
        let payload = Payload::TransferProgress(TransferProgress {
            progress: Some(progress(job)),
            from_manager_id: job.from_manager_id.clone(),
        });
        self.runtime
            .events
            .append(txn, chain_id, scope, payload)
            .await?;
        Ok(())
    }
}

/// Every customer the manager owns now.
async fn all_customers(
    engine: &Engine,
    chain_id: &str,
    manager_id: &str,
) -> Result<Vec<CustomerId>, Error> {
    let mut customers = Vec::new();
    let mut after = String::new();
    loop {
        let page = customers::of_manager(
            &engine.runtime.db,
            chain_id,
            manager_id,
            false,
            &after,
            1000,
        )
        .await?;
        let Some(last) = page.last() else { break };
        after.clone_from(&last.customer_id);
        customers.extend(page.iter().map(|row| CustomerId::new(&row.customer_id)));
    }
    Ok(customers)
}
