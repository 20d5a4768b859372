//! `FollowUpDue`: a plan entering its due window, and again when it is overdue, is
//! announced once each on the event log (notification reminds the manager). One replica
//! (the lease holder) announces; the announcement and its mark commit together, so a
//! crash repeats nothing and loses nothing.

use chrono::{DateTime, Utc};
use maitre_kit::eventlog::EventLog;
use maitre_proto::events::v1::{EventScope, FollowUpDue, event::Payload};
use sea_orm::DatabaseConnection;

use super::begin_write;
use crate::{convert::timestamp_us, error::Result, storage::followups};

/// A plan is announced as due this long before its due time (as in ListFollowUpPlans).
pub const DUE_WINDOW: chrono::Duration = chrono::Duration::hours(24);
/// Plans announced per transaction.
const BATCH: u64 = 200;

/// Announces every plan that became due or overdue as of `now`; returns how many events.
pub async fn announce_due_plans(
    db: &DatabaseConnection,
    log: &EventLog,
    now: DateTime<Utc>,
) -> Result<u64> {
    let mut announced = 0;
    loop {
        let txn = begin_write(db).await?;
        let batch = followups::unannounced(
            &txn,
            (now + DUE_WINDOW).timestamp_micros(),
            now.timestamp_micros(),
            BATCH,
        )
        .await?;
        if batch.is_empty() {
            txn.rollback().await?;
            return Ok(announced);
        }
        for item in &batch {
            let plan = &item.plan;
            followups::mark_announced(&txn, &item.chain_id, &plan.plan_id, item.overdue).await?;
            log.append(
                &txn,
                &item.chain_id,
                EventScope {
                    customer_id: plan.customer_id.clone(),
                    store_id: String::new(),
                    manager_id: plan.manager_id.clone(),
                },
                Payload::FollowUpDue(FollowUpDue {
                    plan_id: plan.plan_id.clone(),
                    customer_id: plan.customer_id.clone(),
                    manager_id: plan.manager_id.clone(),
                    due_at: Some(timestamp_us(plan.due_at_us)),
                    overdue: item.overdue,
                }),
            )
            .await?;
            announced += 1;
        }
        txn.commit().await?;
        log.committed();
    }
}
