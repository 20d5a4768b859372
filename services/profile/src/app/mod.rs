//! Use cases: operations that combine domain rules and storage inside one transaction,
//! called by the handlers (`api`), the consumers (`events`) and the jobs (`jobs`):
//! recording events (`record`, the one write path), merging, classifying, reminders,
//! locking identity keys, and the payloads of what profile emits (`announce`).

pub mod announce;
pub mod cache;
pub mod classify;
pub mod locks;
pub mod merge;
pub mod record;
pub mod reminders;
pub mod view;

use sea_orm::{DatabaseConnection, DatabaseTransaction};

use crate::error::{Error, Result};

/// Begins a transaction that holds the write lock from its start on SQLite (see
/// `maitre_kit::db::begin_write`); PostgreSQL transactions begin as usual.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction> {
    Ok(maitre_kit::db::begin_write(db).await?)
}

/// True for failures a retry of the whole transaction may cure: a racing insert of the
/// same unique value, a deadlock or serialization failure, a busy database.
pub fn is_retryable(error: &Error) -> bool {
    if crate::storage::is_unique_violation(error) {
        return true;
    }
    match error {
        Error::Db(e) => {
            let text = e.to_string().to_ascii_lowercase();
            [
                "deadlock",
                "could not serialize",
                "database is locked",
                "busy",
            ]
            .iter()
            .any(|needle| text.contains(needle))
        }
        _ => false,
    }
}

/// Microseconds since the epoch of a UTC time.
pub fn micros(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_micros()
}
