//! Test backends: a fresh SQLite file or a fresh PostgreSQL schema per test, and a fresh
//! Redis key prefix, so tests run in parallel against the real servers.
//!
//! `MAITRE_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`) and
//! `MAITRE_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) point them elsewhere.

use std::{path::PathBuf, sync::Arc};

use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;

use crate::{
    coord::{self, Coordination},
    db,
};

/// The backends a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file + in-process coordination (the embedded defaults).
    Embedded,
    /// PostgreSQL + Redis (production).
    Production,
}

/// PostgreSQL URL for tests.
pub fn postgres_url() -> String {
    std::env::var("MAITRE_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Redis URL for tests.
pub fn redis_url() -> String {
    std::env::var("MAITRE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A unique lower-case name for this test's schema, file or key prefix.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple()).to_lowercase()
}

/// A database (and its URL/schema) that disappears with the value.
pub struct TestDb {
    /// The connection, migrated.
    pub db: DatabaseConnection,
    /// The URL to open more connections (other replicas) to the same data.
    pub url: String,
    /// The PostgreSQL schema (or the SQLite file stem).
    pub schema: String,
    file: Option<PathBuf>,
}

impl TestDb {
    /// A fresh database of `backend`, migrated with `M`.
    pub async fn new<M: MigratorTrait>(backend: Backend) -> Self {
        let schema = unique_name("t");
        let (url, file) = match backend {
            Backend::Embedded => {
                let file = std::env::temp_dir().join(format!("maitre-{schema}.db"));
                (format!("sqlite://{}?mode=rwc", file.display()), Some(file))
            }
            Backend::Production => (postgres_url(), None),
        };
        let db = db::connect_and_migrate::<M>(&url, &schema).await.expect("test database");
        Self { db, url, schema, file }
    }

    /// Another connection pool to the same data (as a second replica would have).
    pub async fn reconnect(&self) -> DatabaseConnection {
        db::connect(&self.url, &self.schema).await.expect("reconnect")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(file) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        } else {
            // Best effort, on a separate thread: Drop cannot await on the test's runtime.
            let (url, schema) = (self.url.clone(), self.schema.clone());
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    let _ = rt.block_on(db::drop_schema(&url, &schema));
                }
            })
            .join();
        }
    }
}

/// Fresh coordination for `backend`: in-process, or Redis under a unique key prefix.
pub async fn coordination(backend: Backend) -> Arc<dyn Coordination> {
    match backend {
        Backend::Embedded => coord::connect(None, "").await.expect("memory coordination"),
        Backend::Production => {
            coord::connect(Some(&redis_url()), &unique_name("maitre_test")).await.expect("test redis")
        }
    }
}
