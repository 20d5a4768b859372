//! Where customers are and what time it is there: `tag_store` (store → IANA zone, from
//! profile's `StoreChanged`), `tag_customer_store` (every store a customer had contact
//! with; `home` = the first, from `CustomerCreated.home_store_id` or the first contact),
//! and `tag_time_run` (the last local day the time-driven rules ran, per zone).
//! Inserts are `ON CONFLICT DO NOTHING`, so a replayed event changes nothing.

use std::collections::HashMap;

use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, DbErr};

use super::col;

/// Records a store's zone and name (the latest `StoreChanged` wins).
pub async fn upsert_store(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    store_id: &str,
    time_zone: &str,
    name: &str,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO tag_store (chain_id, store_id, time_zone, name) VALUES ($1, $2, $3, $4)
         ON CONFLICT (chain_id, store_id) DO UPDATE SET time_zone = excluded.time_zone, name = excluded.name",
        [
            chain_id.into(),
            store_id.into(),
            time_zone.into(),
            name.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Records that the customer is known at `store_id`; the first store recorded is home.
pub async fn record_customer_store(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    store_id: &str,
) -> Result<(), DbErr> {
    if store_id.is_empty() {
        return Ok(());
    }
    let has_home = conn
        .query_one_raw(stmt(
            conn,
            "SELECT 1 FROM tag_customer_store WHERE chain_id = $1 AND customer_id = $2 AND home = 1",
            [chain_id.into(), customer_id.into()],
        ))
        .await?
        .is_some();
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO tag_customer_store (chain_id, customer_id, store_id, home) VALUES ($1, $2, $3, $4)
         ON CONFLICT (chain_id, customer_id, store_id) DO NOTHING",
        [
            chain_id.into(),
            customer_id.into(),
            store_id.into(),
            i64::from(!has_home).into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The stores the customer is known at.
pub async fn stores_of(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<Vec<String>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT store_id FROM tag_customer_store WHERE chain_id = $1 AND customer_id = $2 ORDER BY store_id",
            [chain_id.into(), customer_id.into()],
        ))
        .await?;
    rows.iter().map(|r| col(r, 0)).collect()
}

/// Moves an absorbed customer's stores to the survivor (the survivor keeps its home).
pub async fn move_customer_stores(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    from: &str,
    to: &str,
) -> Result<(), DbErr> {
    for store in stores_of(conn, chain_id, from).await? {
        record_customer_store(conn, chain_id, to, &store).await?;
    }
    forget_customer_stores(conn, chain_id, from).await
}

/// Forgets an erased or absorbed customer's stores.
pub async fn forget_customer_stores(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "DELETE FROM tag_customer_store WHERE chain_id = $1 AND customer_id = $2",
        [chain_id.into(), customer_id.into()],
    ))
    .await?;
    Ok(())
}

/// The zone name of a store, when it is known.
pub async fn store_zone_of(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    store_id: &str,
) -> Result<Option<String>, DbErr> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            "SELECT time_zone FROM tag_store WHERE chain_id = $1 AND store_id = $2",
            [chain_id.into(), store_id.into()],
        ))
        .await?;
    row.as_ref().map(|r| col(r, 0)).transpose()
}

/// The zone name of the customer's home store, when both are known.
pub async fn home_zone_of(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<Option<String>, DbErr> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            "SELECT s.time_zone FROM tag_customer_store h JOIN tag_store s
               ON s.chain_id = h.chain_id AND s.store_id = h.store_id
             WHERE h.chain_id = $1 AND h.customer_id = $2 AND h.home = 1",
            [chain_id.into(), customer_id.into()],
        ))
        .await?;
    row.as_ref().map(|r| col(r, 0)).transpose()
}

/// Home zone names of the customers numbered in `[from, to)`, by customer id.
pub async fn home_zones_in_range(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    from: u32,
    to: u32,
) -> Result<HashMap<String, String>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT c.customer_id, s.time_zone FROM tag_customer c
               JOIN tag_customer_store h ON h.chain_id = c.chain_id AND h.customer_id = c.customer_id AND h.home = 1
               JOIN tag_store s ON s.chain_id = h.chain_id AND s.store_id = h.store_id
             WHERE c.chain_id = $1 AND c.number >= $2 AND c.number < $3",
            [chain_id.into(), i64::from(from).into(), i64::from(to).into()],
        ))
        .await?;
    rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?))).collect()
}

/// The distinct zone names of the chain's stores.
pub async fn chain_zones(
    conn: &impl ConnectionTrait,
    chain_id: &str,
) -> Result<Vec<String>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT DISTINCT time_zone FROM tag_store WHERE chain_id = $1 ORDER BY time_zone",
            [chain_id.into()],
        ))
        .await?;
    rows.iter().map(|r| col(r, 0)).collect()
}

/// The last local day (epoch day) the time-driven rules ran for `time_zone`; -1 if never.
pub async fn time_run_day(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    time_zone: &str,
) -> Result<i64, DbErr> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            "SELECT day FROM tag_time_run WHERE chain_id = $1 AND time_zone = $2",
            [chain_id.into(), time_zone.into()],
        ))
        .await?;
    Ok(row.as_ref().map(|r| col(r, 0)).transpose()?.unwrap_or(-1))
}

pub async fn set_time_run_day(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    time_zone: &str,
    day: i64,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO tag_time_run (chain_id, time_zone, day) VALUES ($1, $2, $3)
         ON CONFLICT (chain_id, time_zone) DO UPDATE SET day = excluded.day",
        [chain_id.into(), time_zone.into(), day.into()],
    ))
    .await?;
    Ok(())
}

/// The customers known at any of `store_ids`.
pub async fn customers_at_stores(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    store_ids: &[String],
) -> Result<Vec<String>, DbErr> {
    if store_ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..store_ids.len())
        .map(|i| format!("${}", i + 2))
        .collect();
    let values = std::iter::once(sea_orm::Value::from(chain_id))
        .chain(store_ids.iter().map(|s| sea_orm::Value::from(s.as_str())));
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT DISTINCT customer_id FROM tag_customer_store WHERE chain_id = $1 AND store_id IN ({})",
                placeholders.join(", ")
            ),
            values,
        ))
        .await?;
    rows.iter().map(|r| col(r, 0)).collect()
}

/// The stores `customer_ids` had contact with: `(customer, store, home)`.
pub async fn stores_of_customers(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_ids: &[String],
) -> Result<Vec<(String, String, bool)>, DbErr> {
    if customer_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT customer_id, store_id, home FROM tag_customer_store
                 WHERE chain_id = $1 AND customer_id IN ({})",
                super::in_list(2, customer_ids.len())
            ),
            super::chain_and(chain_id, customer_ids),
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((col(r, 0)?, col(r, 1)?, col::<i64>(r, 2)? != 0)))
        .collect()
}

/// [`record_customer_store`] for rows whose `home` the caller decided: `(customer, store, home)`.
pub async fn insert_customer_stores(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    rows: &[(String, String, bool)],
) -> Result<(), DbErr> {
    for chunk in rows.chunks(super::ROWS_PER_STATEMENT) {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 4);
        for (customer, store, home) in chunk {
            values.extend([
                chain_id.into(),
                customer.clone().into(),
                store.clone().into(),
                i64::from(*home).into(),
            ]);
        }
        conn.execute_raw(stmt(
            conn,
            &format!(
                "INSERT INTO tag_customer_store (chain_id, customer_id, store_id, home) VALUES {}
                 ON CONFLICT (chain_id, customer_id, store_id) DO NOTHING",
                maitre_kit::db::value_rows(chunk.len(), 4)
            ),
            values,
        ))
        .await?;
    }
    Ok(())
}

/// The home stores' zones of `customer_ids` (those with a known home store and zone).
pub async fn home_zones_of_customers(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_ids: &[String],
) -> Result<HashMap<String, String>, DbErr> {
    if customer_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT h.customer_id, s.time_zone FROM tag_customer_store h JOIN tag_store s
                   ON s.chain_id = h.chain_id AND s.store_id = h.store_id
                 WHERE h.chain_id = $1 AND h.customer_id IN ({}) AND h.home = 1",
                super::in_list(2, customer_ids.len())
            ),
            super::chain_and(chain_id, customer_ids),
        ))
        .await?;
    rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?))).collect()
}
