//! Notification's business gauges on `/metrics`: messages by status (the queue's depth is
//! `queued` + `sending`, dead letters are `dead`, `unknown` awaits review) and webhook/owner
//! actions by status.
//!
//! Counted every [`REPORT_EVERY`] (`jobs::business_gauges`) per status over the `(status, next_attempt_at_us)` indexes
//! — an index range scan per status, each count capped at [`COUNT_CAP`] so a chain's years of
//! sent messages cost a bounded scan (a capped gauge reads "at least"). Labelled by status
//! only: the statuses are a fixed set, while a chain label would grow with the tenants.

use std::time::Duration;

use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, DatabaseConnection};

/// How often the gauges are recounted.
pub const REPORT_EVERY: Duration = Duration::from_secs(15);
/// The largest count reported per status.
pub const COUNT_CAP: i64 = 1_000_000;

/// Every status a message can be in (`storage::messages`, `convert::status_to_proto`).
pub const MESSAGE_STATUSES: [&str; 9] = [
    "queued",
    "sending",
    "sent",
    "delivered",
    "failed",
    "dead",
    "suppressed",
    "responded",
    "unknown",
];
/// Every status of a queued action (webhook call, reminder, task).
pub const ACTION_STATUSES: [&str; 4] = ["queued", "running", "done", "dead"];

async fn count(db: &DatabaseConnection, table: &str, status: &str) -> Result<i64, sea_orm::DbErr> {
    let sql =
        format!("SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE status = $1 LIMIT $2) counted");
    Ok(db
        .query_one_raw(stmt(db, &sql, [status.into(), COUNT_CAP.into()]))
        .await?
        .and_then(|row| row.try_get_by_index::<i64>(0).ok())
        .unwrap_or(0))
}

/// Sets the gauges once.
pub async fn report_once(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    let mut queue_depth = 0;
    for status in MESSAGE_STATUSES {
        let n = count(db, "notif_messages", status).await?;
        if matches!(status, "queued" | "sending") {
            queue_depth += n;
        }
        metrics::gauge!("maitre_notification_messages", "status" => status).set(n as f64);
    }
    metrics::gauge!("maitre_notification_queue_depth").set(queue_depth as f64);
    for status in ACTION_STATUSES {
        let n = count(db, "notif_actions", status).await?;
        metrics::gauge!("maitre_notification_actions", "status" => status).set(n as f64);
    }
    Ok(())
}
