//! Scheduled work: when the rounds of `app` run. The daily scan for date triggers runs on the
//! kit's leased loop (`maitre_kit::jobs::LeasedJob`: one replica at a time, released at
//! shutdown, woken at once when date automations change); the business gauges are recounted
//! by every replica. (The dispatcher, the campaign runner and the action worker are queue
//! workers every replica runs, each with its own claims: `app::delivery::dispatcher`,
//! `app::campaign`, `app::actions::worker`.)

use std::{future::Future, time::Duration};

use chrono::Utc;
use maitre_kit::jobs::LeasedJob;
use sea_orm::DatabaseConnection;

use crate::app::business_metrics::{REPORT_EVERY, report_once};
use crate::app::daily_scan::DailyScan;

/// The lease every scanning replica competes for.
const DAILY_SCAN: &str = "daily-scan";
const DAILY_SCAN_TTL: Duration = Duration::from_secs(300);

/// Runs `scan` until `shutdown`, a round whenever this replica holds the lease (and at once
/// when an automation change asks for a rescan).
pub async fn daily_scan(scan: DailyScan, shutdown: impl Future<Output = ()>) {
    let job = LeasedJob::new(DAILY_SCAN, scan.every)
        .holder(scan.holder.clone())
        .ttl(DAILY_SCAN_TTL)
        .wake_on(scan.state.rescan.clone());
    job.run(scan.state.coord.clone(), shutdown, |_| async {
        if let Err(e) = scan.run_once(Utc::now()).await {
            tracing::warn!(error = %e, "daily scan failed");
        }
    })
    .await;
}

/// Recounts the business gauges every [`REPORT_EVERY`] (never returns).
pub async fn business_gauges(db: DatabaseConnection) {
    loop {
        if let Err(error) = report_once(&db).await {
            tracing::warn!(%error, "counting messages for metrics failed");
            metrics::counter!("maitre_business_metrics_failures_total", "service" => "notification")
                .increment(1);
        }
        tokio::time::sleep(REPORT_EVERY).await;
    }
}
