//! The `customer_stores` table: the stores each customer has contact with (home store and
//! visits), which scopes what store staff may see.

use std::collections::HashMap;

use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, Value};

use super::{col, to_json, writes::Writes};
use crate::error::Result;

/// Records that the customer has contact with `store_id` (home store or a visit).
pub async fn add_store(
    conn: &impl ConnectionTrait,
    chain: &str,
    customer_id: &str,
    store_id: &str,
) -> Result<()> {
    if store_id.is_empty() {
        return Ok(());
    }
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO customer_stores (chain_id, store_id, customer_id) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
        [chain.into(), store_id.into(), customer_id.into()],
    ))
    .await?;
    Ok(())
}

/// Records several `(customer_id, store_id)` contacts with one statement.
pub async fn add_stores(
    conn: &impl ConnectionTrait,
    chain: &str,
    pairs: &[(String, String)],
) -> Result<()> {
    let mut writes = Writes::default();
    add_stores_into(&mut writes, chain, pairs);
    writes.run(conn).await
}

/// Adds the INSERT of `(customer_id, store_id)` contacts to `writes`.
pub fn add_stores_into(writes: &mut Writes, chain: &str, pairs: &[(String, String)]) {
    let values: Vec<Value> = pairs
        .iter()
        .filter(|(_, store)| !store.is_empty())
        .flat_map(|(customer, store)| [chain.into(), store.clone().into(), customer.clone().into()])
        .collect();
    writes.add_rows(
        "INSERT INTO customer_stores (chain_id, store_id, customer_id)",
        "ON CONFLICT DO NOTHING",
        3,
        values,
    );
}

/// A customer's identity keys (canonical text, sorted) and stores (sorted), in one round
/// trip: what building its contract form needs besides the row.
pub async fn keys_and_stores(
    conn: &impl ConnectionTrait,
    chain: &str,
    customer_id: &str,
) -> Result<(Vec<String>, Vec<String>)> {
    let mut found = keys_and_stores_of(conn, chain, &[customer_id.to_owned()]).await?;
    Ok(found.remove(customer_id).unwrap_or_default())
}

/// [`keys_and_stores`] of several customers in one round trip; a customer with neither is
/// absent from the map.
pub async fn keys_and_stores_of(
    conn: &impl ConnectionTrait,
    chain: &str,
    customer_ids: &[String],
) -> Result<HashMap<String, (Vec<String>, Vec<String>)>> {
    let mut found: HashMap<String, (Vec<String>, Vec<String>)> = HashMap::new();
    if customer_ids.is_empty() {
        return Ok(found);
    }
    let sql = if maitre_kit::db::is_postgres(conn) {
        // One index probe per customer whatever the planner's statistics say (`OFFSET 0`
        // keeps the per-customer subquery from being planned as one big join).
        "SELECT w.x AS customer_id, m.what, m.v FROM jsonb_array_elements_text($2::jsonb) AS w(x) \
         CROSS JOIN LATERAL ( \
           SELECT 0 AS what, identity_key AS v FROM identity_links \
           WHERE chain_id = $1 AND customer_id = w.x \
           UNION ALL \
           SELECT 1 AS what, store_id AS v FROM customer_stores \
           WHERE chain_id = $1 AND customer_id = w.x OFFSET 0) m"
    } else {
        "SELECT customer_id, 0 AS what, identity_key AS v FROM identity_links \
         WHERE chain_id = $1 AND customer_id IN (SELECT value FROM json_each($2)) \
         UNION ALL \
         SELECT customer_id, 1 AS what, store_id AS v FROM customer_stores \
         WHERE chain_id = $1 AND customer_id IN (SELECT value FROM json_each($2))"
    };
    let rows = conn
        .query_all_raw(stmt(conn, sql, [chain.into(), to_json(&customer_ids)?]))
        .await?;
    for row in &rows {
        let id: String = col(row, "customer_id")?;
        let what: i32 = col(row, "what")?;
        let value: String = col(row, "v")?;
        let (keys, stores) = found.entry(id).or_default();
        if what == 0 {
            keys.push(value)
        } else {
            stores.push(value)
        }
    }
    for (keys, stores) in found.values_mut() {
        keys.sort();
        stores.sort();
    }
    Ok(found)
}

/// The stores a customer has contact with.
pub async fn stores_of(
    conn: &impl ConnectionTrait,
    chain: &str,
    customer_id: &str,
) -> Result<Vec<String>> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT store_id FROM customer_stores WHERE chain_id = $1 AND customer_id = $2 ORDER BY store_id",
            [chain.into(), customer_id.into()],
        ))
        .await?;
    rows.iter().map(|r| col(r, "store_id")).collect()
}

/// Moves the store links of `from` to `to` (merge).
pub async fn repoint_stores(
    conn: &impl ConnectionTrait,
    chain: &str,
    from: &str,
    to: &str,
) -> Result<()> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO customer_stores (chain_id, store_id, customer_id) \
         SELECT chain_id, store_id, $3 FROM customer_stores WHERE chain_id = $1 AND customer_id = $2 \
         ON CONFLICT DO NOTHING",
        [chain.into(), from.into(), to.into()],
    ))
    .await?;
    conn.execute_raw(stmt(
        conn,
        "DELETE FROM customer_stores WHERE chain_id = $1 AND customer_id = $2",
        [chain.into(), from.into()],
    ))
    .await?;
    Ok(())
}
