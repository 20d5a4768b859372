//! The `api_keys` table: integrations' credentials, each a chain's, with the SHA-256 of its
//! secret (never the secret) and its revocation.

use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, FromQueryResult, Value};

use super::{count_value, fetch_all, fetch_one, from_json, is_unique_violation, read_row, to_json};
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

/// An `api_keys` row as stored (`store_ids` JSON text), read by derive.
#[derive(FromQueryResult)]
struct StoredApiKey {
    key_id: String,
    chain_id: String,
    name: String,
    role: String,
    store_ids: String,
    secret_sha256: Vec<u8>,
    created_at_us: i64,
    created_by: String,
    revoked_at_us: Option<i64>,
    revoked_by: String,
    request_id: String,
}

fn from_row(row: &sea_orm::QueryResult) -> Result<ApiKeyRow> {
    let s: StoredApiKey = read_row(row)?;
    Ok(ApiKeyRow {
        store_ids: from_json("api key stores", &s.store_ids)?,
        key_id: s.key_id,
        chain_id: s.chain_id,
        name: s.name,
        role: s.role,
        secret_sha256: s.secret_sha256,
        created_at_us: s.created_at_us,
        created_by: s.created_by,
        revoked_at_us: s.revoked_at_us,
        revoked_by: s.revoked_by,
        request_id: s.request_id,
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
    fetch_one(
        conn,
        &format!("SELECT {COLUMNS} FROM api_keys WHERE key_id = $1"),
        [key_id.into()],
        from_row,
    )
    .await
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
    fetch_one(
        conn,
        &format!("SELECT {COLUMNS} FROM api_keys WHERE chain_id = $1 AND request_id = $2"),
        [chain.into(), request_id.into()],
        from_row,
    )
    .await
}

/// The chain's keys, newest first.
pub async fn list(
    conn: &impl ConnectionTrait,
    chain: &str,
    offset: u64,
    limit: u64,
) -> Result<Vec<ApiKeyRow>> {
    let values: Vec<Value> = vec![chain.into(), count_value(limit), count_value(offset)];
    fetch_all(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM api_keys WHERE chain_id = $1 \
                 ORDER BY created_at_us DESC, key_id DESC LIMIT $2 OFFSET $3"
        ),
        values,
        from_row,
    )
    .await
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
