//! The daily scan for date triggers (birthday or anniversary in N days), which have no event of their
//! own (ARCHITECTURE.md "Tagging": time moves rules with no event). One replica scans at a time under a
//! leader lease; each chain is scanned once per store-local day (a coordination marker), and a rescan
//! after a Redis flush changes nothing because every occurrence has its de-duplication key.

use std::{future::Future, time::Duration};

use chrono::{DateTime, NaiveDate, Utc};
use maitre_proto::notification::v1::TriggerKind;
use sea_orm::TransactionTrait;

use crate::automation::fire;
use crate::delivery::Pipeline;
use crate::domain::automation::{AutomationEvent, DayStarted};
use crate::domain::channel::CustomerId;
use crate::error::Result;
use crate::storage::policy::DEFAULT_STORE_TIME_ZONE;
use crate::storage::{automations, facts};

/// Customers read per page.
const PAGE: u64 = 500;
/// The lease every scanning replica competes for.
const LEASE: &str = "daily-scan";
const LEASE_TTL: Duration = Duration::from_secs(300);

/// Today in the stores' zone.
pub fn store_today(now: DateTime<Utc>) -> NaiveDate {
    let zone: chrono_tz::Tz = DEFAULT_STORE_TIME_ZONE
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    now.with_timezone(&zone).date_naive()
}

/// The coordination key saying `chain` was scanned on `today`.
pub fn marker(chain: &str, today: NaiveDate) -> String {
    format!("daily-scan:{chain}:{today}")
}

/// The scan of one replica.
#[derive(Clone)]
pub struct DailyScan {
    pipeline: Pipeline,
    holder: String,
    every: Duration,
}

impl DailyScan {
    /// A scanner identified by `holder` (unique per replica), checking every `every`.
    pub fn new(pipeline: Pipeline, holder: impl Into<String>, every: Duration) -> Self {
        Self {
            pipeline,
            holder: holder.into(),
            every,
        }
    }

    /// Runs until `shutdown`, scanning whenever this replica holds the lease.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match self
                .pipeline
                .coord
                .lease_acquire(LEASE, &self.holder, LEASE_TTL)
                .await
            {
                Ok(Some(_)) => {
                    if let Err(e) = self.run_once(Utc::now()).await {
                        tracing::warn!(error = %e, "daily scan failed");
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "daily scan lease unavailable"),
            }
            tokio::select! {
                _ = &mut shutdown => {
                    let _ = self.pipeline.coord.lease_release(LEASE, &self.holder).await;
                    return;
                }
                _ = tokio::time::sleep(self.every) => {}
                _ = self.pipeline.rescan.notified() => {}
            }
        }
    }

    /// Scans every chain with enabled date automations not yet scanned today; returns the writes.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<usize> {
        let today = store_today(now);
        let kinds = [
            TriggerKind::Birthday as i32,
            TriggerKind::Anniversary as i32,
        ];
        let db = &self.pipeline.db;
        let mut written = 0;
        for chain in automations::chains_with_enabled(db, &kinds).await? {
            let marker = marker(&chain, today);
            if self.pipeline.coord.get(&marker).await?.is_some() {
                continue;
            }
            written += self.scan_chain(&chain, today, now).await?;
            self.pipeline
                .coord
                .set(&marker, "done", Some(Duration::from_secs(48 * 3600)))
                .await?;
        }
        Ok(written)
    }

    async fn scan_chain(&self, chain: &str, today: NaiveDate, now: DateTime<Utc>) -> Result<usize> {
        let db = &self.pipeline.db;
        let mut after = String::new();
        let mut written = 0;
        loop {
            let page = facts::with_birthday(db, chain, &after, PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(written);
            };
            after = last.customer_id.clone();
            let txn = db.begin().await?;
            for customer in &page {
                let Ok(birthday) = customer.birthday.parse::<NaiveDate>() else {
                    continue;
                };
                let event = AutomationEvent::DayStarted(DayStarted {
                    customer_id: CustomerId::new(customer.customer_id.clone()),
                    store_today: today,
                    birthday: Some(birthday),
                    anniversaries: Vec::new(),
                    follow_ups: Vec::new(),
                });
                written +=
                    fire(&self.pipeline, &txn, chain, &event, now.timestamp_micros()).await?;
            }
            txn.commit().await?;
            self.pipeline.enqueued();
            self.pipeline.inbox_committed();
        }
    }
}
