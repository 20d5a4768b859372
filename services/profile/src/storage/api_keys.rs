//! The `api_keys` table: integrations' credentials, each a chain's, with the SHA-256 of its
//! secret (never the secret) and its revocation.

use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, Value};

use super::{col, count_value, from_json, is_unique_violation, to_json};
use crate::error::{Error, Result};

/// One stored key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub key_id: String,
    pub chain_id: String,
    pub name: String,
    /// The role's claim value (`store_manager`).
    pub role: String,
    pub store_ids: Vec<String>,
    pub secret_sha256: Vec<u8>,
    pub created_at_us: i64,
    pub created_by: String,
    pub revoked_at_us: Option<i64>,
    pub revoked_by: String,
    pub request_id: String,
}

impl std::fmt::Debug for ApiKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyRow")
            .field("key_id", &self.key_id)
            .field("chain_id", &self.chain_id)
            .field("role", &self.role)
            .field("revoked_at_us", &self.revoked_at_us)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "key_id, chain_id, name, role, store_ids, secret_sha256, created_at_us, \
                       created_by, revoked_at_us, revoked_by, request_id";

fn from_row(row: &sea_orm::QueryResult) -> Result<ApiKeyRow> {
    Ok(ApiKeyRow {
        key_id: col(row, "key_id")?,
        chain_id: col(row, "chain_id")?,
        name: col(row, "name")?,
        role: col(row, "role")?,
        store_ids: from_json("api key stores", &col::<String>(row, "store_ids")?)?,
        secret_sha256: col(row, "secret_sha256")?,
        created_at_us: col(row, "created_at_us")?,
        created_by: col(row, "created_by")?,
        revoked_at_us: col(row, "revoked_at_us")?,
        revoked_by: col(row, "revoked_by")?,
        request_id: col(row, "request_id")?,
    })
}

/// Inserts a new key; a request id used before in the chain is `ALREADY_EXISTS`.
pub async fn insert(conn: &impl ConnectionTrait, key: &ApiKeyRow) -> Result<()> {
    conn.execute_raw(stmt(
        conn,
        &format!(
            "INSERT INTO api_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ),
        [
            key.key_id.clone().into(),
            key.chain_id.clone().into(),
            key.name.clone().into(),
            key.role.clone().into(),
            to_json(&key.store_ids)?,
            key.secret_sha256.clone().into(),
            key.created_at_us.into(),
            key.created_by.clone().into(),
            key.revoked_at_us.into(),
            key.revoked_by.clone().into(),
            key.request_id.clone().into(),
        ],
    ))
    .await
    .map_err(|e| {
        let error = Error::from(e);
        if is_unique_violation(&error) {
            Error::AlreadyExists {
                field: "request_id".into(),
                message: "a key was created with this request_id at the same moment".into(),
            }
        } else {
            error
        }
    })?;
    Ok(())
}

/// A key by id, of any chain (the resolver knows no chain yet).
pub async fn get_any_chain(conn: &impl ConnectionTrait, key_id: &str) -> Result<Option<ApiKeyRow>> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            &format!("SELECT {COLUMNS} FROM api_keys WHERE key_id = $1"),
            [key_id.into()],
        ))
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// A key of the chain.
pub async fn get(
    conn: &impl ConnectionTrait,
    chain: &str,
    key_id: &str,
) -> Result<Option<ApiKeyRow>> {
    Ok(get_any_chain(conn, key_id)
        .await?
        .filter(|key| key.chain_id == chain))
}

/// The key created for the chain's `request_id`.
pub async fn by_request(
    conn: &impl ConnectionTrait,
    chain: &str,
    request_id: &str,
) -> Result<Option<ApiKeyRow>> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            &format!("SELECT {COLUMNS} FROM api_keys WHERE chain_id = $1 AND request_id = $2"),
            [chain.into(), request_id.into()],
        ))
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The chain's keys, newest first.
pub async fn list(
    conn: &impl ConnectionTrait,
    chain: &str,
    offset: u64,
    limit: u64,
) -> Result<Vec<ApiKeyRow>> {
    let values: Vec<Value> = vec![chain.into(), count_value(limit), count_value(offset)];
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT {COLUMNS} FROM api_keys WHERE chain_id = $1 \
                 ORDER BY created_at_us DESC, key_id DESC LIMIT $2 OFFSET $3"
            ),
            values,
        ))
        .await?;
    rows.iter().map(from_row).collect()
}

/// Marks an active key revoked; true when this call revoked it.
pub async fn revoke(
    conn: &impl ConnectionTrait,
    chain: &str,
    key_id: &str,
    at_us: i64,
    by: &str,
) -> Result<bool> {
    let done = conn
        .execute_raw(stmt(
            conn,
            "UPDATE api_keys SET revoked_at_us = $1, revoked_by = $2 \
             WHERE chain_id = $3 AND key_id = $4 AND revoked_at_us IS NULL",
            [at_us.into(), by.into(), chain.into(), key_id.into()],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}
