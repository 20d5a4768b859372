//! Storage: a sea-orm connection from a URL (PostgreSQL or SQLite) and migrations.
//!
//! On PostgreSQL each service owns a schema and sees only it through the search path;
//! embedded mode gives each service its own SQLite file in WAL mode.
//!
//! Least privilege: only [`connect_and_migrate`] (`maitre migrate`, tests) runs DDL. A
//! service starting with [`open_for_service`] on a current schema runs none, so its
//! runtime user needs no CREATE right (PostgreSQL 15 refuses even `CREATE SCHEMA IF NOT
//! EXISTS` on an existing schema to such a user).

use std::{collections::HashSet, time::Duration};

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
    /// The schema lacks migrations and the service may not apply them itself.
    #[error(
        "schema `{schema}` is not migrated (pending: {}); run `maitre migrate` with a user \
         that may change the schema, or set MAITRE_MIGRATE_ON_START=true",
        pending.join(", ")
    )]
    NotMigrated {
        schema: String,
        pending: Vec<String>,
    },
}

/// How a service's connection pool is sized (`MAITRE_DATABASE_POOL_SIZE`,
/// `MAITRE_DATABASE_ACQUIRE_TIMEOUT_SECS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSettings {
    /// Most connections one replica holds; `None`: 16 on PostgreSQL, 8 on SQLite.
    pub max_connections: Option<u32>,
    /// How long a request waits for a free connection before failing.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: None,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// Connects to `url` with the default pool; on PostgreSQL the pool sees only `schema`.
/// Runs no DDL.
pub async fn connect(url: &str, schema: &str) -> Result<DatabaseConnection, DbError> {
    connect_with(url, schema, &PoolSettings::default()).await
}

/// Connects to `url` with `pool`; on PostgreSQL the pool sees only `schema`. Runs no DDL.
pub async fn connect_with(
    url: &str,
    schema: &str,
    pool: &PoolSettings,
) -> Result<DatabaseConnection, DbError> {
    if url.starts_with("sqlite:") {
        return connect_sqlite(url, pool).await;
    }
    check_schema_name(schema)?;
    let mut options = base_options(url, pool.max_connections.unwrap_or(16));
    options.acquire_timeout(pool.acquire_timeout);
    options.set_schema_search_path(schema.to_owned());
    Ok(Database::connect(options).await?)
}

fn check_schema_name(schema: &str) -> Result<(), DbError> {
    if schema.is_empty()
        || !schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(DbError::InvalidSchema(schema.into()));
    }
    Ok(())
}

/// Creates the PostgreSQL `schema` unless it exists (asked first, so a user without the
/// CREATE right can run migrations in a schema made for it).
async fn create_schema(url: &str, schema: &str) -> Result<(), DbError> {
    if url.starts_with("sqlite:") {
        return Ok(());
    }
    check_schema_name(schema)?;
    let bootstrap = Database::connect(base_options(url, 1)).await?;
    let exists = bootstrap
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT 1 AS present FROM pg_namespace WHERE nspname = $1",
            [schema.into()],
        ))
        .await?
        .is_some();
    if !exists {
        bootstrap
            .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .await?;
    }
    bootstrap.close().await?;
    Ok(())
}

async fn connect_sqlite(url: &str, pool: &PoolSettings) -> Result<DatabaseConnection, DbError> {
    if let Some(path) = sqlite_file(url)
        && let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbErr::Custom(format!("creating {}: {e}", dir.display())))?;
    }
    let mut options = base_options(url, pool.max_connections.unwrap_or(8));
    options.acquire_timeout(pool.acquire_timeout);
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

/// Creates the schema if missing and applies `M`'s pending migrations (`maitre migrate`,
/// tests): the one place that changes a schema.
pub async fn connect_and_migrate<M: MigratorTrait>(
    url: &str,
    schema: &str,
) -> Result<DatabaseConnection, DbError> {
    create_schema(url, schema).await?;
    let db = connect(url, schema).await?;
    M::up(&db, None).await?;
    Ok(db)
}

/// Opens a service's database at start. SQLite (embedded, one process) is migrated. On
/// PostgreSQL a current schema is used as it is, with no DDL; a schema with pending
/// migrations is migrated only when `migrate_on_start`, and otherwise refused by name.
pub async fn open_for_service<M: MigratorTrait>(
    url: &str,
    schema: &str,
    pool: &PoolSettings,
    migrate_on_start: bool,
) -> Result<DatabaseConnection, DbError> {
    let db = connect_with(url, schema, pool).await?;
    if !is_postgres(&db) {
        M::up(&db, None).await?;
        return Ok(db);
    }
    let pending = pending_migrations::<M>(&db).await?;
    if pending.is_empty() {
        return Ok(db);
    }
    if !migrate_on_start {
        return Err(DbError::NotMigrated {
            schema: schema.to_owned(),
            pending,
        });
    }
    create_schema(url, schema).await?;
    M::up(&db, None).await?;
    Ok(db)
}

/// `M`'s migrations not yet recorded in the schema, read without DDL (sea-orm's own
/// status check creates its table first, which a user without CREATE may not do).
async fn pending_migrations<M: MigratorTrait>(
    db: &DatabaseConnection,
) -> Result<Vec<String>, DbError> {
    let table = M::migration_table_name().to_string();
    let present = db
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT to_regclass($1)::text AS name",
            [table.clone().into()],
        ))
        .await?
        .and_then(|row| row.try_get::<Option<String>>("", "name").ok().flatten())
        .is_some();
    let applied: HashSet<String> = if present {
        db.query_all_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            format!("SELECT version FROM \"{table}\""),
        ))
        .await?
        .iter()
        .filter_map(|row| row.try_get::<String>("", "version").ok())
        .collect()
    } else {
        HashSet::new()
    };
    Ok(M::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .filter(|name| !applied.contains(name))
        .collect())
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

/// How [`xact_lock`] holds its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// Held together with other shared holders; waits for an exclusive one.
    Shared,
    /// Waits until no other transaction holds the key, in either mode.
    Exclusive,
}

/// Takes a lock on `key` held until the transaction `conn` ends (commit or rollback).
///
/// On PostgreSQL an advisory transaction lock on a 64-bit hash of `key` (two keys sharing a
/// hash only wait for each other). PostgreSQL finds a deadlock between these and row locks
/// and aborts one side, which the caller retries as any other deadlock. On SQLite nothing is
/// taken: a write transaction ([`begin_write`], IMMEDIATE) already runs alone.
pub async fn xact_lock(
    conn: &impl ConnectionTrait,
    key: &str,
    mode: LockMode,
) -> Result<(), DbErr> {
    if !is_postgres(conn) {
        return Ok(());
    }
    let sql = match mode {
        LockMode::Shared => "SELECT pg_advisory_xact_lock_shared($1)",
        LockMode::Exclusive => "SELECT pg_advisory_xact_lock($1)",
    };
    conn.execute_raw(stmt(conn, sql, [lock_id(key).into()]))
        .await?;
    Ok(())
}

/// FNV-1a of `key`: the same id on every replica and build (std's hasher may change).
fn lock_id(key: &str) -> i64 {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    i64::from_ne_bytes(hash.to_ne_bytes())
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
