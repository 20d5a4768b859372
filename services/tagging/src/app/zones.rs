//! Store-local "today": a customer's rules count days in their home store's zone (the
//! store of their first contact, its IANA zone from profile's `StoreChanged`); Asia/Shanghai
//! when either is unknown (seed 002 is written for chains in mainland China).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sea_orm::ConnectionTrait;

use crate::{
    domain::rule::{EpochDay, epoch_day},
    error::Result,
    storage::places::{chain_zones, home_zone_of, home_zones_in_range},
};

/// The default calendar: a customer's rules count days in their home store's zone
/// (below), in this one when it is unknown (seed 002 is written for chains in
/// mainland China).
pub const CHAIN_TIME_ZONE: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// The chain-local day of `now`.
pub fn today_at(now: DateTime<Utc>) -> EpochDay {
    epoch_day(now.with_timezone(&CHAIN_TIME_ZONE).date_naive())
}

/// The zone an IANA name names; the chain default when the name is empty or unknown.
pub fn zone_named(name: &str) -> Tz {
    name.parse::<Tz>().unwrap_or(CHAIN_TIME_ZONE)
}

/// The local day of `now` in `zone`.
pub fn today_in(now: DateTime<Utc>, zone: Tz) -> EpochDay {
    epoch_day(now.with_timezone(&zone).date_naive())
}

/// Local days of one instant per zone name, for batches of customers.
pub struct LocalDays {
    now: DateTime<Utc>,
    default_day: EpochDay,
    by_zone: HashMap<String, EpochDay>,
}

impl LocalDays {
    pub fn new(now: DateTime<Utc>) -> Self {
        LocalDays {
            now,
            default_day: today_in(now, CHAIN_TIME_ZONE),
            by_zone: HashMap::new(),
        }
    }

    /// The local day in the zone named `zone`; the chain default's when `None`.
    pub fn day_in(&mut self, zone: Option<&String>) -> EpochDay {
        let Some(zone) = zone else {
            return self.default_day;
        };
        let now = self.now;
        *self
            .by_zone
            .entry(zone.clone())
            .or_insert_with(|| today_in(now, zone_named(zone)))
    }
}

/// The customer's home-store-local day of `now`.
pub async fn customer_today(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    now: DateTime<Utc>,
) -> Result<EpochDay> {
    let zone = home_zone_of(conn, chain_id, customer_id)
        .await?
        .map_or(CHAIN_TIME_ZONE, |name| zone_named(&name));
    Ok(today_in(now, zone))
}

/// Every customer's home-store-local day of one instant, for a whole chain (refits and
/// rescoring): each customer is scored in their store's day, not in a fixed chain zone.
pub struct CustomerDays {
    home_zones: HashMap<String, String>,
    days: LocalDays,
}

impl CustomerDays {
    /// The home zones of every customer of `chain_id`, read once.
    pub async fn load(
        conn: &impl ConnectionTrait,
        chain_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Self> {
        Ok(CustomerDays {
            home_zones: home_zones_in_range(conn, chain_id, 0, u32::MAX).await?,
            days: LocalDays::new(now),
        })
    }

    /// The customer's local day (the chain default's when their home zone is unknown).
    pub fn today_of(&mut self, customer_id: &str) -> EpochDay {
        self.days.day_in(self.home_zones.get(customer_id))
    }
}

/// The chain's latest local day of `now` over its stores' zones (the default zone when it
/// has none): the day chain-wide work (a daily refit, a calibration holdout) belongs to, so
/// no store's visits of its own "today" are left out.
pub async fn chain_today(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    now: DateTime<Utc>,
) -> Result<EpochDay> {
    let zones = chain_zones(conn, chain_id).await?;
    Ok(zones
        .iter()
        .map(|z| today_in(now, zone_named(z)))
        .max()
        .unwrap_or_else(|| today_in(now, CHAIN_TIME_ZONE)))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn local_days_differ_across_zones() {
        // 2024-03-01 02:00 UTC: 10:00 on the 1st in Shanghai, 21:00 on Feb 29th in New York.
        let now = Utc
            .with_ymd_and_hms(2024, 3, 1, 2, 0, 0)
            .single()
            .expect("instant");
        let shanghai = today_in(now, zone_named("Asia/Shanghai"));
        let new_york = today_in(now, zone_named("America/New_York"));
        assert_eq!(shanghai - new_york, 1);
        assert_eq!(today_in(now, zone_named("Not/AZone")), shanghai);
        assert_eq!(today_in(now, zone_named("")), shanghai);
        let mut days = LocalDays::new(now);
        assert_eq!(days.day_in(None), shanghai);
        assert_eq!(days.day_in(Some(&"America/New_York".to_owned())), new_york);
    }
}
