//! Storage of the profile service: migrations (the kit's tables first) and the SQL of
//! each table family. Every function takes the caller's chain and filters by it.

mod schema;
mod schema_api_keys;
mod schema_followup_supersession;

pub mod api_keys;

pub mod customer_stores;
pub mod customers;
pub mod events;
pub mod followup_summary;
pub mod followups;
pub mod identity;
pub mod menu;
pub mod policy;
pub mod stores;
pub mod writes;

use maitre_kit::eventlog::{ConsumerLeases, KitTables, PublishedSequenceIndexes};
use sea_orm::{DbErr, FromQueryResult, QueryResult, Value};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

pub use schema::ProfileTables;

use crate::error::{Error, Result};

/// The service's migrations, applied at start and by `maitre migrate`.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(KitTables),
            Box::new(ProfileTables),
            Box::new(PublishedSequenceIndexes),
            Box::new(schema_followup_supersession::FollowUpSupersession),
            Box::new(ConsumerLeases),
            Box::new(schema_api_keys::ApiKeys),
            Box::new(maitre_kit::audit::AuditTable),
        ]
    }
}

/// `$from, $from+1, …` placeholders for an `IN (…)` list of `count` values.
pub(crate) fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A column of a row, naming the column when it cannot be read.
pub(crate) fn col<T: sea_orm::TryGetable>(row: &QueryResult, name: &str) -> Result<T> {
    row.try_get::<T>("", name).map_err(Error::from)
}

/// A row of a storage row type whose mapping is derived (`#[derive(FromQueryResult)]`:
/// columns by field name).
pub(crate) fn read_row<T: FromQueryResult>(row: &QueryResult) -> Result<T> {
    T::from_query_result(row, "").map_err(Error::from)
}

/// The row `sql` (with `$n` placeholders bound to `values`) selects, if any, read by `map`.
pub(crate) async fn fetch_one<T>(
    conn: &impl sea_orm::ConnectionTrait,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
    map: impl Fn(&QueryResult) -> Result<T>,
) -> Result<Option<T>> {
    let row = conn
        .query_one_raw(maitre_kit::db::stmt(conn, sql, values))
        .await?;
    row.as_ref().map(map).transpose()
}

/// Every row `sql` (with `$n` placeholders bound to `values`) selects, each read by `map`.
pub(crate) async fn fetch_all<T>(
    conn: &impl sea_orm::ConnectionTrait,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
    map: impl Fn(&QueryResult) -> Result<T>,
) -> Result<Vec<T>> {
    let rows = conn
        .query_all_raw(maitre_kit::db::stmt(conn, sql, values))
        .await?;
    rows.iter().map(map).collect()
}

/// JSON text of a domain value.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<Value> {
    serde_json::to_string(value)
        .map(Value::from)
        .map_err(|e| Error::from(DbErr::Custom(format!("encoding json: {e}"))))
}

/// A domain value from JSON text.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| {
        Error::Db(maitre_kit::db::DbError::Corrupt {
            what: what.to_owned(),
            reason: e.to_string(),
        })
    })
}

/// A protobuf message from stored bytes.
pub(crate) fn from_proto<M: prost::Message + Default>(what: &str, bytes: &[u8]) -> Result<M> {
    M::decode(bytes).map_err(|e| {
        Error::Db(maitre_kit::db::DbError::Corrupt {
            what: what.to_owned(),
            reason: e.to_string(),
        })
    })
}

/// True when the database refused a row for a unique constraint.
pub(crate) fn is_unique_violation(error: &Error) -> bool {
    match error {
        Error::Db(maitre_kit::db::DbError::Db(e)) => matches!(
            e.sql_err(),
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
        ),
        _ => false,
    }
}

/// An `i64` bound value from a `u64` count (saturating).
pub(crate) fn count_value(n: u64) -> Value {
    Value::from(i64::try_from(n).unwrap_or(i64::MAX))
}

/// `column` is one of `values`, as SQL using the single parameter `$n` and that parameter
/// (a JSON list): one statement text whatever the list's length, so it is prepared once,
/// and on PostgreSQL an index scan (`= ANY`) even under a generic plan.
pub(crate) fn one_of(
    conn: &impl sea_orm::ConnectionTrait,
    column: &str,
    n: usize,
    values: &[String],
) -> Result<(String, Value)> {
    let sql = if maitre_kit::db::is_postgres(conn) {
        format!("{column} = ANY(ARRAY(SELECT jsonb_array_elements_text(${n}::jsonb)))")
    } else {
        format!("{column} IN (SELECT value FROM json_each(${n}))")
    };
    Ok((sql, to_json(&values)?))
}
