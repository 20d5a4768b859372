//! Storage: a sea-orm connection from a URL (PostgreSQL or SQLite) and migrations at start.
//!
//! On PostgreSQL each service owns a schema (created if missing) and sees only it through
//! the search path; embedded mode gives each service its own SQLite file in WAL mode.

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
    Statement,
};
use sea_orm_migration::MigratorTrait;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database reported an error.
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// A stored value could not be decoded.
    #[error("corrupt stored value in {what}: {reason}")]
    Corrupt { what: String, reason: String },
    /// The schema name is not a plain identifier.
    #[error("invalid schema name `{0}`")]
    InvalidSchema(String),
}

/// Connects to `url`; on PostgreSQL, creates `schema` and confines the pool to it.
pub async fn connect(url: &str, schema: &str) -> Result<DatabaseConnection, DbError> {
    if url.starts_with("sqlite:") {
        return connect_sqlite(url).await;
    }
    if schema.is_empty()
        || !schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(DbError::InvalidSchema(schema.into()));
    }
    {
        let bootstrap = Database::connect(base_options(url, 1)).await?;
        bootstrap
            .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .await?;
        bootstrap.close().await?;
    }
    let mut options = base_options(url, 16);
    options.set_schema_search_path(schema.to_owned());
    Ok(Database::connect(options).await?)
}

async fn connect_sqlite(url: &str) -> Result<DatabaseConnection, DbError> {
    if let Some(path) = sqlite_file(url)
        && let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbErr::Custom(format!("creating {}: {e}", dir.display())))?;
    }
    let mut options = base_options(url, 8);
    options.map_sqlx_sqlite_opts(|o| {
        // WAL lets readers run beside the single writer; the busy timeout queues writers
        // instead of failing them.
        o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
    });
    Ok(Database::connect(options).await?)
}

fn base_options(url: &str, max_connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        // sqlx pings a pooled connection on every checkout by default: one more round trip
        // per transaction, on the busiest path of every service. Only a connection that sat
        // idle long enough to have been dropped (server restart, proxy, firewall) is pinged.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false);
    options
}

/// The file path of a `sqlite://path?…` URL, if it names a file.
fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Connects and brings the schema up to date with the service's migrator.
pub async fn connect_and_migrate<M: MigratorTrait>(
    url: &str,
    schema: &str,
) -> Result<DatabaseConnection, DbError> {
    let db = connect(url, schema).await?;
    M::up(&db, None).await?;
    Ok(db)
}

/// Begins a transaction that will write. On SQLite it takes the write lock at `BEGIN`
/// (IMMEDIATE): a deferred transaction that reads first cannot upgrade its lock once another
/// connection has committed (a busy snapshot, which the busy timeout does not wait out).
pub async fn begin_write(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// True on PostgreSQL (some statements differ: locks, returning, types).
pub fn is_postgres(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DatabaseBackend::Postgres
}

/// A statement with positional `$1…` parameters; SQLite accepts the same numbering.
pub fn stmt(
    db: &impl ConnectionTrait,
    sql: &str,
    values: impl IntoIterator<Item = sea_orm::Value>,
) -> Statement {
    Statement::from_sql_and_values(db.get_database_backend(), sql, values)
}

/// The `VALUES` list of a multi-row INSERT: `rows` tuples of `width` numbered placeholders,
/// `($1, $2), ($3, $4)`, for parameters bound row by row.
pub fn value_rows(rows: usize, width: usize) -> String {
    let mut sql = String::with_capacity(rows * width * 5);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 0..width {
            if col > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(row * width + col + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

/// Drops a PostgreSQL schema (tests clean up after themselves).
pub async fn drop_schema(url: &str, schema: &str) -> Result<(), DbError> {
    if schema.is_empty()
        || !schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(DbError::InvalidSchema(schema.into()));
    }
    let db = Database::connect(base_options(url, 1)).await?;
    db.execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await?;
    db.close().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn value_rows_number_parameters_row_by_row() {
        assert_eq!(super::value_rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::value_rows(1, 1), "($1)");
        assert_eq!(super::value_rows(0, 2), "");
    }

    use super::*;

    #[test]
    fn finds_the_sqlite_file_of_a_url() {
        assert_eq!(
            sqlite_file("sqlite://data/profile.db?mode=rwc"),
            Some("data/profile.db")
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x"), None);
    }

    #[tokio::test]
    async fn rejects_schema_names_that_are_not_identifiers() {
        let e = connect("postgres://127.0.0.1/test", "a; drop")
            .await
            .unwrap_err();
        assert!(matches!(e, DbError::InvalidSchema(_)));
    }
}
