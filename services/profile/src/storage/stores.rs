//! The `stores` table: a chain's stores with their IANA time zone.

use sea_orm::{ConnectionTrait, Value};

use super::{col, count_value, fetch_all, fetch_one, is_unique_violation, placeholders};
use crate::error::{Error, Result};
use maitre_kit::db::stmt;

/// One stored store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRow {
    pub store_id: String,
    pub name: String,
    pub time_zone: String,
    pub code: String,
    pub created_at_us: i64,
}

const COLUMNS: &str = "store_id, name, time_zone, code, created_at_us";

fn from_row(row: &sea_orm::QueryResult) -> Result<StoreRow> {
    Ok(StoreRow {
        store_id: col(row, "store_id")?,
        name: col(row, "name")?,
        time_zone: col(row, "time_zone")?,
        code: col(row, "code")?,
        created_at_us: col(row, "created_at_us")?,
    })
}

fn code_taken(error: Error, code: &str) -> Error {
    if is_unique_violation(&error) {
        Error::AlreadyExists {
            field: "store.code".into(),
            message: format!("store code `{code}` is already used in this chain"),
        }
    } else {
        error
    }
}

/// Inserts a new store; a code used by another store is `ALREADY_EXISTS`.
pub async fn insert(conn: &impl ConnectionTrait, chain: &str, store: &StoreRow) -> Result<()> {
    conn.execute_raw(stmt(
        conn,
        &format!("INSERT INTO stores (chain_id, {COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"),
        [
            chain.into(),
            store.store_id.clone().into(),
            store.name.clone().into(),
            store.time_zone.clone().into(),
            store.code.clone().into(),
            store.created_at_us.into(),
        ],
    ))
    .await
    .map_err(|e| code_taken(e.into(), &store.code))?;
    Ok(())
}

/// Writes name, time zone and code of an existing store.
pub async fn update(conn: &impl ConnectionTrait, chain: &str, store: &StoreRow) -> Result<()> {
    conn.execute_raw(stmt(
        conn,
        "UPDATE stores SET name = $1, time_zone = $2, code = $3 WHERE chain_id = $4 AND store_id = $5",
        [
            store.name.clone().into(),
            store.time_zone.clone().into(),
            store.code.clone().into(),
            chain.into(),
            store.store_id.clone().into(),
        ],
    ))
    .await
    .map_err(|e| code_taken(e.into(), &store.code))?;
    Ok(())
}

/// One store of the chain.
pub async fn get(
    conn: &impl ConnectionTrait,
    chain: &str,
    store_id: &str,
) -> Result<Option<StoreRow>> {
    fetch_one(
        conn,
        &format!("SELECT {COLUMNS} FROM stores WHERE chain_id = $1 AND store_id = $2"),
        [chain.into(), store_id.into()],
        from_row,
    )
    .await
}

/// Stores of the chain ordered by id; only `scope` when given (store-scoped callers).
pub async fn list(
    conn: &impl ConnectionTrait,
    chain: &str,
    scope: Option<&[String]>,
    offset: u64,
    limit: u64,
) -> Result<Vec<StoreRow>> {
    let mut values: Vec<Value> = vec![chain.into(), count_value(limit), count_value(offset)];
    let filter = match scope {
        Some(ids) => {
            values.extend(ids.iter().map(|id| Value::from(id.clone())));
            if ids.is_empty() {
                " AND 1 = 0".to_owned()
            } else {
                format!(" AND store_id IN ({})", placeholders(4, ids.len()))
            }
        }
        None => String::new(),
    };
    fetch_all(conn, &format!(
                "SELECT {COLUMNS} FROM stores WHERE chain_id = $1{filter} ORDER BY store_id LIMIT $2 OFFSET $3"
            ),
            values, from_row).await
}
