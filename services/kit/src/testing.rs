//! Test backends: a fresh SQLite file or a fresh PostgreSQL schema per test, and a fresh
//! Redis key prefix, so tests run in parallel against the real servers.
//!
//! `MAITRE_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test?sslmode=disable`)
//! and `MAITRE_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) point them elsewhere. The
//! default PostgreSQL is on loopback, so it is reached without TLS: encrypting a connection
//! that never leaves the machine only spends CPU on both ends (the benchmarks share these
//! defaults and say so).

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

/// Runs each scenario `async fn name(backend: Backend)` on both backends, as the tests
/// `name::embedded` and `name::production` (multi-threaded runtime, two workers).
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$scenario($crate::testing::Backend::Embedded).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn production() {
                super::$scenario($crate::testing::Backend::Production).await
            }
        }
    )*};
}

/// PostgreSQL URL for tests (and benchmarks).
pub fn postgres_url() -> String {
    std::env::var("MAITRE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".into())
}

/// Redis URL for tests.
pub fn redis_url() -> String {
    std::env::var("MAITRE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A unique lower-case name for this test's schema, file or key prefix; it starts with the
/// creation time so [`sweep_stale_schemas`] can tell abandoned schemas from live ones.
pub fn unique_name(prefix: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    format!("{prefix}{now}_{}", uuid::Uuid::new_v4().simple()).to_lowercase()
}

/// Drops a test schema without blocking the caller: a stopping service may still hold
/// locks on it, and it needs the test's runtime to finish. Retries briefly with a lock
/// timeout; whatever is left is swept by a later run.
fn drop_schema_in_background(url: String, schema: String) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            for _ in 0..20 {
                if db::drop_schema(&url, &schema).await.is_ok() {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        });
    });
}

/// Drops test schemas (`t<unix time>_…`) older than an hour, left by killed test processes.
pub async fn sweep_stale_schemas(url: &str) {
    use sea_orm::ConnectionTrait;
    let Ok(conn) = sea_orm::Database::connect(url).await else {
        return;
    };
    let cutoff = chrono::Utc::now().timestamp() - 3600;
    let Ok(rows) = conn
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT nspname FROM pg_namespace WHERE nspname ~ '^t[0-9]+_[0-9a-f]+$'",
        ))
        .await
    else {
        return;
    };
    for row in rows {
        let Ok(name) = row.try_get_by_index::<String>(0) else {
            continue;
        };
        let created: i64 = name[1..]
            .split('_')
            .next()
            .and_then(|t| t.parse().ok())
            .unwrap_or(i64::MAX);
        if created < cutoff {
            let _ = conn.execute_unprepared("SET lock_timeout = '1s'").await;
            let _ = conn
                .execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                .await;
        }
    }
    let _ = conn.close().await;
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
            Backend::Production => {
                sweep_once();
                (postgres_url(), None)
            }
        };
        let db = db::connect_and_migrate::<M>(&url, &schema)
            .await
            .expect("test database");
        Self {
            db,
            url,
            schema,
            file,
        }
    }

    /// Another connection pool to the same data (as a second replica would have).
    pub async fn reconnect(&self) -> DatabaseConnection {
        db::connect(&self.url, &self.schema)
            .await
            .expect("reconnect")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(file) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        } else {
            drop_schema_in_background(self.url.clone(), self.schema.clone());
        }
    }
}

/// Sweeps stale test schemas once per test process, in the background.
fn sweep_once() {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| {
        std::thread::spawn(|| {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(sweep_stale_schemas(&postgres_url()));
            }
        });
    });
}

/// Fresh coordination for `backend`: in-process, or Redis under a unique key prefix.
pub async fn coordination(backend: Backend) -> Arc<dyn Coordination> {
    match backend {
        Backend::Embedded => coord::connect(None, "").await.expect("memory coordination"),
        Backend::Production => coord::connect(Some(&redis_url()), &unique_name("maitre_test"))
            .await
            .expect("test redis"),
    }
}

/// Configuration for starting one service in a test, on fresh storage of `backend`;
/// the storage disappears with the value.
pub struct TestConfig {
    /// The configuration to pass to the service's `serve`.
    pub config: crate::config::Config,
    file: Option<PathBuf>,
    schema: Option<String>,
}

impl TestConfig {
    /// Fresh storage for `service`: a temporary SQLite file and in-process coordination, or
    /// a new PostgreSQL schema and a new Redis key prefix. `extra` overrides variables
    /// (e.g. upstream URLs).
    pub fn new(
        service: crate::config::ServiceName,
        backend: Backend,
        extra: &[(&str, &str)],
    ) -> Self {
        let name = unique_name("t");
        let mut vars: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        vars.insert("MAITRE_LISTEN".into(), "127.0.0.1:0".into());
        let (file, schema) = match backend {
            Backend::Embedded => {
                let file = std::env::temp_dir().join(format!("maitre-{name}.db"));
                vars.insert(
                    "MAITRE_DATABASE_URL".into(),
                    format!("sqlite://{}?mode=rwc", file.display()),
                );
                (Some(file), None)
            }
            Backend::Production => {
                sweep_once();
                vars.insert("MAITRE_DATABASE_URL".into(), postgres_url());
                vars.insert("MAITRE_DATABASE_SCHEMA".into(), name.clone());
                vars.insert("MAITRE_REDIS_URL".into(), redis_url());
                vars.insert("MAITRE_REDIS_PREFIX".into(), format!("{name}:"));
                (None, Some(name))
            }
        };
        // Benchmarks choose the partition count of every consumer from their environment.
        if let Ok(partitions) = std::env::var("MAITRE_EVENT_PARTITIONS") {
            vars.insert("MAITRE_EVENT_PARTITIONS".into(), partitions);
        }
        for (k, v) in extra {
            vars.insert((*k).into(), (*v).into());
        }
        let config = crate::config::Config::from_lookup(service, |k| vars.get(k).cloned())
            .expect("test config");
        Self {
            config,
            file,
            schema,
        }
    }
}

impl Drop for TestConfig {
    fn drop(&mut self) {
        if let Some(file) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
        if let Some(schema) = self.schema.clone() {
            drop_schema_in_background(self.config.database_url.clone(), schema);
        }
        if let Some(url) = self.config.redis_url.clone() {
            clear_redis_prefix_in_background(url, self.config.redis_prefix.clone());
        }
    }
}

/// Deletes every Redis key under a test's prefix, in a thread of its own (drop cannot wait).
fn clear_redis_prefix_in_background(url: String, prefix: String) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(clear_redis_prefix(&url, &prefix));
    });
}

/// Deletes every Redis key under `prefix` (a test's own namespace: a flush that touches no
/// other test). Never the whole keyspace: an empty prefix deletes nothing.
pub async fn clear_redis_prefix(url: &str, prefix: &str) {
    if prefix.is_empty() {
        return;
    }
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let pattern = format!("{}*", crate::coord::glob_escape(prefix));
    let mut cursor = 0u64;
    loop {
        let Ok((next, keys)): redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1_000)
            .query_async(&mut connection)
            .await
        else {
            return;
        };
        if !keys.is_empty() {
            let _: redis::RedisResult<u64> = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut connection)
                .await;
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

/// A service running in the test's runtime; stops (gracefully) when dropped.
pub struct RunningService {
    /// `http://127.0.0.1:<port>` of the service.
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl RunningService {
    /// Stops the service now, as dropping it does; `url` stays (a restart on the same
    /// address binds it again once it is free).
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds `config.listen` (port 0 from [`TestConfig`], or a port chosen in advance when
/// another service must know it first) and runs `serve(config, listener, shutdown)`; waits
/// until it accepts.
pub async fn spawn<F, Fut, E>(config: crate::config::Config, serve: F) -> RunningService
where
    F: FnOnce(
        crate::config::Config,
        tokio::net::TcpListener,
        futures::future::BoxFuture<'static, ()>,
    ) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown: futures::future::BoxFuture<'static, ()> = Box::pin(async {
        let _ = stopped.await;
    });
    let fut = serve(config, listener, shutdown);
    tokio::spawn(async move {
        if let Err(e) = fut.await {
            panic!("service failed: {e}");
        }
    });
    let url = format!("http://{addr}");
    // Ready when the health service answers (migrations run before the port serves).
    for _ in 0..200 {
        if let Ok(channel) = tonic::transport::Endpoint::from_shared(url.clone())
            .expect("url")
            .connect()
            .await
        {
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
            if health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .is_ok()
            {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    RunningService {
        url,
        stop: Some(stop),
    }
}

/// A development token (the built-in development key) for tests and tools.
pub fn token(chain: &str, role: crate::auth::Role, staff_id: &str, stores: &[&str]) -> String {
    let stores: Vec<String> = stores.iter().map(|s| s.to_string()).collect();
    crate::auth::Minter::hs256(crate::auth::DEVELOPMENT_SECRET)
        .mint(staff_id, chain, role, &stores, 3600)
        .expect("mint test token")
}

/// Like [`spawn`] for an HTTP server: ready when `GET <ready_path>` answers 200.
pub async fn spawn_http<F, Fut, E>(
    config: crate::config::Config,
    ready_path: &str,
    serve: F,
) -> RunningService
where
    F: FnOnce(
        crate::config::Config,
        tokio::net::TcpListener,
        futures::future::BoxFuture<'static, ()>,
    ) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown: futures::future::BoxFuture<'static, ()> = Box::pin(async {
        let _ = stopped.await;
    });
    let fut = serve(config, listener, shutdown);
    tokio::spawn(async move {
        if let Err(e) = fut.await {
            panic!("server failed: {e}");
        }
    });
    for _ in 0..200 {
        if http_get_ok(addr, ready_path).await {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    RunningService {
        url: format!("http://{addr}"),
        stop: Some(stop),
    }
}

/// A minimal HTTP/1.1 GET, enough to poll readiness without an HTTP client dependency.
async fn http_get_ok(addr: std::net::SocketAddr, path: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.is_ok() && head.starts_with(b"HTTP/1.1 200")
}
