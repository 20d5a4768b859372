//! The `identity_links`, `blocked_keys` and `merge_log` tables: which customers a key names,
//! the chain's block list, and the merges made.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, Value};

use super::{col, count_value, fetch_all, writes::Writes};
use crate::{
    domain::{identity::IdentityKey, ids::CustomerId, resolution::CustomerMatch},
    error::{Error, Result},
};

/// Every stored link of `keys` to a live customer, with the customer's creation time.
pub async fn matches(
    conn: &impl ConnectionTrait,
    chain: &str,
    keys: &[IdentityKey],
) -> Result<Vec<CustomerMatch>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    fetch_all(
        conn,
        matches_sql(conn),
        [chain.into(), key_list(keys)?],
        parse_match,
    )
    .await
}

/// [`matches`], and in the same read whether `(channel, external_id)` was recorded
/// already: `None` then (a replay: nothing to resolve).
pub async fn matches_unless_recorded(
    conn: &impl ConnectionTrait,
    chain: &str,
    keys: &[IdentityKey],
    channel: i32,
    external_id: &str,
) -> Result<Option<Vec<CustomerMatch>>> {
    let sql = format!(
        "SELECT 0 AS replay, q.identity_key, q.customer_id, q.created_at_us FROM ({}) q \
         UNION ALL SELECT 1 AS replay, external_id, customer_id, 0 FROM contact_events \
         WHERE chain_id = $1 AND channel = $3 AND external_id = $4",
        matches_sql(conn)
    );
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &sql,
            [
                chain.into(),
                key_list(keys)?,
                channel.into(),
                external_id.into(),
            ],
        ))
        .await?;
    let mut found = Vec::with_capacity(rows.len());
    for row in &rows {
        if col::<i32>(row, "replay")? != 0 {
            return Ok(None);
        }
        found.push(parse_match(row)?);
    }
    Ok(Some(found))
}

fn key_list(keys: &[IdentityKey]) -> Result<Value> {
    let canonical: Vec<String> = keys.iter().map(IdentityKey::canonical).collect();
    super::to_json(&canonical)
}

/// The links of the keys in `$2` (a JSON list) of chain `$1`.
fn matches_sql(conn: &impl ConnectionTrait) -> &'static str {
    // On PostgreSQL one index probe per key whatever the planner's statistics say (the
    // fence `OFFSET 0` keeps the per-key subquery from being planned as one big join).
    if maitre_kit::db::is_postgres(conn) {
        "SELECT m.identity_key, m.customer_id, m.created_at_us \
         FROM jsonb_array_elements_text($2::jsonb) AS w(x) CROSS JOIN LATERAL ( \
         SELECT l.identity_key, l.customer_id, c.created_at_us FROM identity_links l \
         JOIN customers c ON c.chain_id = l.chain_id AND c.customer_id = l.customer_id \
         WHERE l.chain_id = $1 AND l.identity_key = w.x AND c.merged_into IS NULL OFFSET 0) m"
    } else {
        "SELECT l.identity_key, l.customer_id, c.created_at_us FROM identity_links l \
         JOIN customers c ON c.chain_id = l.chain_id AND c.customer_id = l.customer_id \
         WHERE l.chain_id = $1 AND c.merged_into IS NULL \
         AND l.identity_key IN (SELECT value FROM json_each($2))"
    }
}

fn parse_match(row: &sea_orm::QueryResult) -> Result<CustomerMatch> {
    let key: String = col(row, "identity_key")?;
    let id: String = col(row, "customer_id")?;
    let created_us: i64 = col(row, "created_at_us")?;
    Ok(CustomerMatch {
        key: parse_stored_key(&key)?,
        customer_id: parse_customer_id(&id)?,
        customer_created_at: DateTime::<Utc>::from_timestamp_micros(created_us).unwrap_or_default(),
    })
}

/// A stored canonical key.
pub fn parse_stored_key(canonical: &str) -> Result<IdentityKey> {
    canonical.parse().map_err(|e| {
        Error::Db(maitre_kit::db::DbError::Corrupt {
            what: format!("identity key {canonical}"),
            reason: format!("{e}"),
        })
    })
}

/// A stored customer id.
pub fn parse_customer_id(id: &str) -> Result<CustomerId> {
    uuid::Uuid::parse_str(id).map(CustomerId).map_err(|e| {
        Error::Db(maitre_kit::db::DbError::Corrupt {
            what: format!("customer id {id}"),
            reason: e.to_string(),
        })
    })
}

/// Links `key` to the customer (no-op when already linked).
pub async fn link(
    conn: &impl ConnectionTrait,
    chain: &str,
    key: &IdentityKey,
    customer_id: &str,
    now_us: i64,
) -> Result<()> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO identity_links (chain_id, identity_key, customer_id, created_at_us) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        [
            chain.into(),
            key.canonical().into(),
            customer_id.into(),
            now_us.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Links several `(key, customer_id)` pairs with one statement (no-op for links held).
pub async fn link_many(
    conn: &impl ConnectionTrait,
    chain: &str,
    links: &[(IdentityKey, String)],
    now_us: i64,
) -> Result<()> {
    let mut writes = Writes::default();
    link_into(&mut writes, chain, links, now_us);
    writes.run(conn).await
}

/// Adds the INSERT of `(key, customer_id)` links to `writes`.
pub fn link_into(writes: &mut Writes, chain: &str, links: &[(IdentityKey, String)], now_us: i64) {
    let values = links
        .iter()
        .flat_map(|(key, customer)| {
            [
                Value::from(chain),
                key.canonical().into(),
                customer.clone().into(),
                now_us.into(),
            ]
        })
        .collect();
    writes.add_rows(
        "INSERT INTO identity_links (chain_id, identity_key, customer_id, created_at_us)",
        "ON CONFLICT DO NOTHING",
        4,
        values,
    );
}

/// The keys linked to a customer, in canonical order.
pub async fn keys_of(
    conn: &impl ConnectionTrait,
    chain: &str,
    customer_id: &str,
) -> Result<Vec<IdentityKey>> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT identity_key FROM identity_links WHERE chain_id = $1 AND customer_id = $2 ORDER BY identity_key",
            [chain.into(), customer_id.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| parse_stored_key(&col::<String>(r, "identity_key")?))
        .collect()
}

/// Moves every key of `from` to `to` (merge), keeping one link per key.
pub async fn repoint(conn: &impl ConnectionTrait, chain: &str, from: &str, to: &str) -> Result<()> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO identity_links (chain_id, identity_key, customer_id, created_at_us) \
         SELECT chain_id, identity_key, $3, created_at_us FROM identity_links \
         WHERE chain_id = $1 AND customer_id = $2 ON CONFLICT DO NOTHING",
        [chain.into(), from.into(), to.into()],
    ))
    .await?;
    unlink_all(conn, chain, from).await
}

/// Removes every key of a customer (erasure, merge).
pub async fn unlink_all(conn: &impl ConnectionTrait, chain: &str, customer_id: &str) -> Result<()> {
    conn.execute_raw(stmt(
        conn,
        "DELETE FROM identity_links WHERE chain_id = $1 AND customer_id = $2",
        [chain.into(), customer_id.into()],
    ))
    .await?;
    Ok(())
}

/// The chain's configured block list.
pub async fn blocked(conn: &impl ConnectionTrait, chain: &str) -> Result<HashSet<IdentityKey>> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT identity_key FROM blocked_keys WHERE chain_id = $1",
            [chain.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| parse_stored_key(&col::<String>(r, "identity_key")?))
        .collect()
}

/// Adds `add` to and removes `remove` from the block list; returns the configured count.
pub async fn update_blocked(
    conn: &impl ConnectionTrait,
    chain: &str,
    add: &[IdentityKey],
    remove: &[IdentityKey],
    now_us: i64,
) -> Result<i64> {
    for key in add {
        conn.execute_raw(stmt(
            conn,
            "INSERT INTO blocked_keys (chain_id, identity_key, created_at_us) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
            [chain.into(), key.canonical().into(), now_us.into()],
        ))
        .await?;
    }
    for key in remove {
        conn.execute_raw(stmt(
            conn,
            "DELETE FROM blocked_keys WHERE chain_id = $1 AND identity_key = $2",
            [chain.into(), key.canonical().into()],
        ))
        .await?;
    }
    let row = conn
        .query_one_raw(stmt(
            conn,
            "SELECT COUNT(*) AS n FROM blocked_keys WHERE chain_id = $1",
            [chain.into()],
        ))
        .await?;
    Ok(row.map(|r| col::<i64>(&r, "n")).transpose()?.unwrap_or(0))
}

/// A blocked key for the report: configured, or linked to more than `limit` customers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedRow {
    pub key: IdentityKey,
    pub configured: bool,
    pub customer_count: i64,
}

/// Configured keys, then keys shared by more than `limit` live customers.
pub async fn blocked_report(
    conn: &impl ConnectionTrait,
    chain: &str,
    limit: usize,
    offset: u64,
    page: u64,
) -> Result<Vec<BlockedRow>> {
    let sql = "SELECT identity_key, 1 AS configured, \
           (SELECT COUNT(*) FROM identity_links l WHERE l.chain_id = b.chain_id AND l.identity_key = b.identity_key) AS n \
         FROM blocked_keys b WHERE chain_id = $1 \
         UNION ALL \
         SELECT identity_key, 0 AS configured, COUNT(*) AS n FROM identity_links \
         WHERE chain_id = $1 AND identity_key NOT IN (SELECT identity_key FROM blocked_keys WHERE chain_id = $1) \
         GROUP BY identity_key HAVING COUNT(*) > $2 \
         ORDER BY configured DESC, identity_key LIMIT $3 OFFSET $4";
    let rows = conn
        .query_all_raw(stmt(
            conn,
            sql,
            [
                chain.into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
                count_value(page),
                count_value(offset),
            ],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            let configured: i32 = col(r, "configured")?;
            Ok(BlockedRow {
                key: parse_stored_key(&col::<String>(r, "identity_key")?)?,
                configured: configured != 0,
                customer_count: col(r, "n")?,
            })
        })
        .collect()
}

/// Logs that `absorbed` was merged into `survivor`.
pub async fn log_merge(
    conn: &impl ConnectionTrait,
    chain: &str,
    survivor: &str,
    absorbed: &str,
    reason: &str,
    now_us: i64,
) -> Result<()> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO merge_log (chain_id, absorbed_id, survivor_id, reason, created_at_us) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        [
            chain.into(),
            absorbed.into(),
            survivor.into(),
            reason.into(),
            now_us.into(),
        ],
    ))
    .await?;
    Ok(())
}
