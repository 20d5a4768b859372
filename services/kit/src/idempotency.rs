//! Idempotent mutations: the first response to a `request_id` is stored with the change
//! and returned again for every replay.
//!
//! Store the response in the same transaction as the change: a racing duplicate then
//! fails on the primary key and rolls back, and its retry finds the stored response.

use prost::Message;
use sea_orm::ConnectionTrait;

use crate::db::{DbError, stmt};

/// The stored response of an earlier call with this `request_id`, if any.
pub async fn recall<M: Message + Default>(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    scope: &str,
    request_id: &str,
) -> Result<Option<M>, DbError> {
    if request_id.is_empty() {
        return Ok(None);
    }
    let row = conn
        .query_one_raw(stmt(
            conn,
            "SELECT response FROM kit_idempotency WHERE chain_id = $1 AND scope = $2 AND request_id = $3",
            [chain_id.into(), scope.into(), request_id.into()],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let bytes: Vec<u8> = row.try_get_by_index(0)?;
    M::decode(bytes.as_slice())
        .map(Some)
        .map_err(|e| DbError::Corrupt {
            what: format!("idempotency {scope}/{request_id}"),
            reason: e.to_string(),
        })
}

/// Stores the response of a call with this `request_id` (no-op for an empty id).
pub async fn remember<M: Message>(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    scope: &str,
    request_id: &str,
    response: &M,
) -> Result<(), DbError> {
    if request_id.is_empty() {
        return Ok(());
    }
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO kit_idempotency (chain_id, scope, request_id, response, created_at_us) VALUES ($1, $2, $3, $4, $5)",
        [
            chain_id.into(),
            scope.into(),
            request_id.into(),
            response.encode_to_vec().into(),
            chrono::Utc::now().timestamp_micros().into(),
        ],
    ))
    .await?;
    Ok(())
}
