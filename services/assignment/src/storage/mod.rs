//! Storage of the assignment service: its migrations (the kit's tables first) and the SQL
//! of each table, one module per table family. Everything is keyed by `chain_id` first and
//! every query filters by the caller's chain. Times are BIGINT microseconds (UTC), money
//! BIGINT fen, booleans BIGINT 0/1, "no manager" the empty string — one SQL text that runs
//! on PostgreSQL and SQLite alike.

pub mod cache;
pub mod contacts;
pub mod customers;
pub mod decisions;
pub mod jobs;
pub mod managers;
pub mod policies;
mod schema;

use maitre_kit::eventlog::{ConsumerLeases, KitTables, PublishedSequenceIndexes};
use sea_orm::{ConnectionTrait, QueryResult, Value};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

use crate::error::Error;

/// The service's migrations, applied at start and by `maitre migrate`.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(KitTables),
            Box::new(schema::AssignmentTables),
            Box::new(schema::DerivedOwnedCounts),
            Box::new(PublishedSequenceIndexes),
            Box::new(schema::PoolReasons),
            Box::new(schema::JobKinds),
            Box::new(ConsumerLeases),
            Box::new(maitre_kit::audit::AuditTable),
        ]
    }
}

/// Runs one statement; the number of rows it changed.
pub(crate) async fn exec(
    conn: &impl ConnectionTrait,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Result<u64, Error> {
    let result = conn
        .execute_raw(maitre_kit::db::stmt(conn, sql, values))
        .await?;
    Ok(result.rows_affected())
}

/// Runs a query; every row.
pub(crate) async fn all(
    conn: &impl ConnectionTrait,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Result<Vec<QueryResult>, Error> {
    Ok(conn
        .query_all_raw(maitre_kit::db::stmt(conn, sql, values))
        .await?)
}

/// Runs a query; the first row, if any.
pub(crate) async fn one(
    conn: &impl ConnectionTrait,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Result<Option<QueryResult>, Error> {
    Ok(conn
        .query_one_raw(maitre_kit::db::stmt(conn, sql, values))
        .await?)
}

/// A single BIGINT answer (COUNT, SUM cast to BIGINT); 0 when there is no row.
pub(crate) async fn scalar(
    conn: &impl ConnectionTrait,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Result<i64, Error> {
    Ok(match one(conn, sql, values).await? {
        Some(row) => row.try_get_by_index::<Option<i64>>(0)?.unwrap_or(0),
        None => 0,
    })
}
