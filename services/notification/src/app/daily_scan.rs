//! The daily scan's round for date triggers (birthday or anniversary in N days), which have no event of their
//! own (ARCHITECTURE.md "Tagging": time moves rules with no event). One replica scans at a time under a
//! leader lease (`jobs::daily_scan`); each chain is scanned again whenever the local date of any of its stores' zones
//! changes (a coordination marker over every zone's date), each customer with "today" in the zone of
//! their home store, and a rescan after a Redis flush changes nothing because every occurrence has its
//! de-duplication key.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use maitre_proto::notification::v1::TriggerKind;
use sea_orm::ConnectionTrait;

use crate::app::automation::fire;
use crate::domain::automation::{AutomationEvent, DayStarted};
use crate::domain::channel::CustomerId;
use crate::error::Result;
use crate::state::State;
use crate::storage::{automations, facts, stores};

/// Customers read per page.
const PAGE: u64 = 500;

/// Today in the default store zone (Asia/Shanghai).
pub fn store_today(now: DateTime<Utc>) -> NaiveDate {
    store_today_in(now, stores::default_zone())
}

/// Today in `zone` (a store's).
pub fn store_today_in(now: DateTime<Utc>, zone: Tz) -> NaiveDate {
    now.with_timezone(&zone).date_naive()
}

/// Today for `customer_id`: in the zone of their home store (default zone when unknown).
pub async fn customer_today(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    now: DateTime<Utc>,
) -> Result<NaiveDate> {
    let zone = stores::customer_zone(conn, chain_id, customer_id).await?;
    Ok(store_today_in(now, zone))
}

/// The chain's day: every zone of its stores with its local date (`Asia/Shanghai=2026-11-24,…`). It
/// changes whenever one zone's date does, so a New York store's customers are scanned on their own
/// midnight, not Shanghai's.
pub fn day_key(zones: &[Tz], now: DateTime<Utc>) -> String {
    zones
        .iter()
        .map(|zone| format!("{}={}", zone.name(), store_today_in(now, *zone)))
        .collect::<Vec<_>>()
        .join(",")
}

/// The chain's day now (see [`day_key`]).
pub async fn chain_day(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    now: DateTime<Utc>,
) -> Result<String> {
    Ok(day_key(&stores::chain_zones(conn, chain_id).await?, now))
}

/// The coordination key saying `chain` was scanned on `day` (a [`day_key`]).
pub fn marker(chain: &str, day: &str) -> String {
    format!("daily-scan:{chain}:{day}")
}

/// A date automation (birthday, anniversary) was enabled for `chain`: today's scan of the
/// chain is done again, so it does not wait for tomorrow. Occurrences already handled
/// are not repeated (their de-duplication keys exist).
pub async fn date_automations_changed(state: &State, chain: &str) {
    let day = match chain_day(&state.db, chain, Utc::now()).await {
        Ok(day) => day,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the chain's store zones; the next day's scan will cover it");
            state.rescan.notify_one();
            return;
        }
    };
    if let Err(e) = state.coord.delete(&marker(chain, &day)).await {
        tracing::warn!(error = %e, "cannot reset today's scan marker; the next day's scan will cover it");
    }
    state.rescan.notify_one();
}

/// The scan of one replica.
#[derive(Clone)]
pub struct DailyScan {
    pub(crate) state: State,
    /// This replica's name on the scan's lease (`jobs::daily_scan`).
    pub(crate) holder: String,
    /// How often the lease holder checks for a new day (`jobs::daily_scan`).
    pub(crate) every: Duration,
}

impl DailyScan {
    /// A scanner identified by `holder` (unique per replica), checking every `every`.
    pub fn new(state: State, holder: impl Into<String>, every: Duration) -> Self {
        Self {
            state,
            holder: holder.into(),
            every,
        }
    }

    /// Scans every chain with enabled date automations not yet scanned today; returns the writes.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<usize> {
        let kinds = [
            TriggerKind::Birthday as i32,
            TriggerKind::Anniversary as i32,
        ];
        let db = &self.state.db;
        let mut written = 0;
        for chain in automations::chains_with_enabled(db, &kinds).await? {
            let marker = marker(&chain, &chain_day(db, &chain, now).await?);
            if self.state.coord.get(&marker).await?.is_some() {
                continue;
            }
            written += self.scan_chain(&chain, now).await?;
            self.state
                .coord
                .set(&marker, "done", Some(Duration::from_secs(48 * 3600)))
                .await?;
        }
        Ok(written)
    }

    async fn scan_chain(&self, chain: &str, now: DateTime<Utc>) -> Result<usize> {
        let db = &self.state.db;
        let mut after = String::new();
        let mut written = 0;
        loop {
            let page = facts::with_birthday(db, chain, &after, PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(written);
            };
            after = last.customer_id.clone();
            let txn = maitre_kit::db::begin_write(db).await?;
            for customer in &page {
                let Ok(birthday) = customer.birthday.parse::<NaiveDate>() else {
                    continue;
                };
                let today = customer_today(&txn, chain, &customer.customer_id, now).await?;
                let event = AutomationEvent::DayStarted(DayStarted {
                    customer_id: CustomerId::new(customer.customer_id.clone()),
                    store_today: today,
                    birthday: Some(birthday),
                    anniversaries: Vec::new(),
                    follow_ups: Vec::new(),
                });
                written += fire(&self.state, &txn, chain, &event, now.timestamp_micros()).await?;
            }
            txn.commit().await?;
            self.state.enqueued();
            self.state.inbox_committed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_day_key_changes_at_each_zones_midnight() {
        let zones = [chrono_tz::America::New_York, chrono_tz::Asia::Shanghai];
        // 2026-11-24 15:00 UTC: Shanghai is on the 24th (23:00), New York on the 24th (10:00).
        let before = Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap();
        // Two hours later Shanghai rolls over to the 25th; New York does not.
        let shanghai_midnight = Utc.with_ymd_and_hms(2026, 11, 24, 17, 0, 0).unwrap();
        // New York rolls over at 05:00 UTC on the 25th.
        let new_york_midnight = Utc.with_ymd_and_hms(2026, 11, 25, 5, 30, 0).unwrap();
        let keys = [before, shanghai_midnight, new_york_midnight].map(|t| day_key(&zones, t));
        assert_eq!(
            keys[0],
            "America/New_York=2026-11-24,Asia/Shanghai=2026-11-24"
        );
        assert_eq!(
            keys[1],
            "America/New_York=2026-11-24,Asia/Shanghai=2026-11-25"
        );
        assert_eq!(
            keys[2],
            "America/New_York=2026-11-25,Asia/Shanghai=2026-11-25"
        );
    }

    #[test]
    fn today_is_store_local() {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 2, 0, 0).unwrap();
        assert_eq!(store_today(t), NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
        assert_eq!(
            store_today_in(t, chrono_tz::America::New_York),
            NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()
        );
    }
}
