//! Actions waiting for their customer's owner (`notif_awaiting_owner`): one row per chain and
//! de-duplication key, the action as JSON (`crate::app::automation::awaiting`).

use sea_orm::ConnectionTrait;

use super::{exec, query_all};
use crate::error::Result;

/// Stores an action until the customer's owner is known, unless its key waits already.
pub async fn park(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    dedup_key: &str,
    payload: &str,
    now_us: i64,
) -> Result<()> {
    exec(
        conn,
        "INSERT INTO notif_awaiting_owner (chain_id, dedup_key, customer_id, payload, create_time_us)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (chain_id, dedup_key) DO NOTHING",
        [
            chain_id.into(),
            dedup_key.into(),
            customer_id.into(),
            payload.into(),
            now_us.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Removes and returns the customer's waiting actions (payloads), oldest first.
pub async fn take(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<Vec<String>> {
    let rows = query_all(
        conn,
        "SELECT payload FROM notif_awaiting_owner WHERE chain_id = $1 AND customer_id = $2
         ORDER BY create_time_us, dedup_key",
        [chain_id.into(), customer_id.into()],
    )
    .await?;
    if !rows.is_empty() {
        discard(conn, chain_id, customer_id).await?;
    }
    rows.iter()
        .map(|row| Ok(row.try_get("", "payload")?))
        .collect()
}

/// Moves the waiting actions of `absorbed` to `survivor` (the two profiles were merged).
pub async fn repoint(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    absorbed: &str,
    survivor: &str,
) -> Result<()> {
    exec(
        conn,
        "UPDATE notif_awaiting_owner SET customer_id = $3 WHERE chain_id = $1 AND customer_id = $2",
        [chain_id.into(), absorbed.into(), survivor.into()],
    )
    .await?;
    Ok(())
}

/// Drops the customer's waiting actions.
pub async fn discard(conn: &impl ConnectionTrait, chain_id: &str, customer_id: &str) -> Result<()> {
    exec(
        conn,
        "DELETE FROM notif_awaiting_owner WHERE chain_id = $1 AND customer_id = $2",
        [chain_id.into(), customer_id.into()],
    )
    .await?;
    Ok(())
}
