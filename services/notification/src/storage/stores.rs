//! Store names and time zones (`notif_stores`, from profile's `StoreChanged`) and each customer's home store
//! (`notif_customer_stores`, from `CustomerCreated.home_store_id`, else the first `ContactRecorded`
//! store): quiet hours and "today" are judged in the zone of the customer's home store
//! (ARCHITECTURE.md "Delivery": quiet hours in store-local time), Asia/Shanghai when unknown.

use std::collections::HashMap;

use chrono::Utc;
use chrono_tz::Tz;
use sea_orm::ConnectionTrait;

use super::policy::DEFAULT_STORE_TIME_ZONE;
use super::{exec, query_all, query_one};
use crate::error::Result;

/// The zone used when a customer's home store or its zone is unknown.
pub fn default_zone() -> Tz {
    DEFAULT_STORE_TIME_ZONE
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai)
}

/// Records a store's name and IANA zone; `false` when the zone is not a known zone (the name is
/// kept, and the zone the store had, or the default one).
pub async fn put_store(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    store_id: &str,
    time_zone: &str,
    name: &str,
) -> Result<bool> {
    if store_id.is_empty() {
        return Ok(false);
    }
    let zone_known = time_zone.parse::<Tz>().is_ok();
    let zone_update = if zone_known {
        "time_zone = excluded.time_zone,"
    } else {
        ""
    };
    exec(
        conn,
        &format!(
            "INSERT INTO notif_stores (chain_id, store_id, time_zone, name, update_time_us)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (chain_id, store_id) DO UPDATE SET {zone_update} name = excluded.name,
               update_time_us = excluded.update_time_us"
        ),
        [
            chain_id.into(),
            store_id.into(),
            if zone_known {
                time_zone
            } else {
                DEFAULT_STORE_TIME_ZONE
            }
            .into(),
            name.into(),
            Utc::now().timestamp_micros().into(),
        ],
    )
    .await?;
    Ok(zone_known)
}

/// Sets the customer's home store: always when `replace` (the profile says so), otherwise only when
/// none is known yet (a contact at a store makes it home for a customer created without one).
pub async fn set_home_store(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    store_id: &str,
    replace: bool,
) -> Result<()> {
    if store_id.is_empty() || customer_id.is_empty() {
        return Ok(());
    }
    let on_conflict = if replace {
        "DO UPDATE SET store_id = excluded.store_id, update_time_us = excluded.update_time_us"
    } else {
        "DO NOTHING"
    };
    exec(
        conn,
        &format!(
            "INSERT INTO notif_customer_stores (chain_id, customer_id, store_id, update_time_us)
             VALUES ($1, $2, $3, $4) ON CONFLICT (chain_id, customer_id) {on_conflict}"
        ),
        [
            chain_id.into(),
            customer_id.into(),
            store_id.into(),
            Utc::now().timestamp_micros().into(),
        ],
    )
    .await?;
    Ok(())
}

/// The customer's home store, when known (what store scope is judged by here).
pub async fn customer_store(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<Option<String>> {
    let row = query_one(
        conn,
        "SELECT store_id FROM notif_customer_stores WHERE chain_id = $1 AND customer_id = $2",
        [chain_id.into(), customer_id.into()],
    )
    .await?;
    Ok(match row {
        Some(row) => Some(row.try_get("", "store_id")?),
        None => None,
    })
}

/// The zone of the customer's home store (the default zone when unknown).
pub async fn customer_zone(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<Tz> {
    let row = query_one(
        conn,
        "SELECT s.time_zone FROM notif_customer_stores c JOIN notif_stores s
           ON s.chain_id = c.chain_id AND s.store_id = c.store_id
         WHERE c.chain_id = $1 AND c.customer_id = $2",
        [chain_id.into(), customer_id.into()],
    )
    .await?;
    let Some(row) = row else {
        return Ok(default_zone());
    };
    let zone: String = row.try_get("", "time_zone")?;
    Ok(zone.parse().unwrap_or_else(|_| default_zone()))
}

/// The home-store zones of `customers` known to the chain (one statement per chunk); customers
/// without one are absent (the default zone applies).
pub async fn customer_zones(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customers: &[&str],
) -> Result<HashMap<String, Tz>> {
    let mut zones = HashMap::new();
    for chunk in customers.chunks(super::queue::ROWS_PER_STATEMENT) {
        let rows = query_all(
            conn,
            &format!(
                "SELECT c.customer_id, s.time_zone FROM notif_customer_stores c JOIN notif_stores s
                   ON s.chain_id = c.chain_id AND s.store_id = c.store_id
                 WHERE c.chain_id = $1 AND c.customer_id IN ({})",
                super::queue::placeholders(2, chunk.len())
            ),
            std::iter::once(chain_id.into()).chain(chunk.iter().map(|c| (*c).into())),
        )
        .await?;
        for row in rows {
            let zone: String = row.try_get("", "time_zone")?;
            if let Ok(zone) = zone.parse::<Tz>() {
                zones.insert(row.try_get("", "customer_id")?, zone);
            }
        }
    }
    Ok(zones)
}

/// Every zone the chain's stores are in, plus the default, sorted and distinct.
pub async fn chain_zones(conn: &impl ConnectionTrait, chain_id: &str) -> Result<Vec<Tz>> {
    let rows = query_all(
        conn,
        "SELECT DISTINCT time_zone FROM notif_stores WHERE chain_id = $1",
        [chain_id.into()],
    )
    .await?;
    let mut zones = vec![default_zone()];
    for row in rows {
        let name: String = row.try_get("", "time_zone")?;
        if let Ok(zone) = name.parse::<Tz>() {
            zones.push(zone);
        }
    }
    zones.sort_by_key(|z| z.name());
    zones.dedup();
    Ok(zones)
}

/// [`set_home_store`] for several customers at once, `(customer, store)` each listed once.
pub async fn set_home_stores(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    homes: &[(String, String)],
    replace: bool,
) -> Result<()> {
    let on_conflict = if replace {
        "DO UPDATE SET store_id = excluded.store_id, update_time_us = excluded.update_time_us"
    } else {
        "DO NOTHING"
    };
    let now_us = Utc::now().timestamp_micros();
    for chunk in homes.chunks(super::queue::ROWS_PER_STATEMENT / 4) {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 4);
        for (customer, store) in chunk {
            values.extend([
                chain_id.into(),
                customer.clone().into(),
                store.clone().into(),
                now_us.into(),
            ]);
        }
        exec(
            conn,
            &format!(
                "INSERT INTO notif_customer_stores (chain_id, customer_id, store_id, update_time_us)
                 VALUES {} ON CONFLICT (chain_id, customer_id) {on_conflict}",
                maitre_kit::db::value_rows(chunk.len(), 4)
            ),
            values,
        )
        .await?;
    }
    Ok(())
}
