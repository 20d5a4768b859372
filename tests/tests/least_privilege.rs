//! Least privilege on PostgreSQL: once `maitre migrate` has prepared a service's schema, the
//! service runs with a user that has no DDL rights at all (the deployment the chart and
//! `docs/kubernetes.md` describe), and a service that may not migrate refuses an unmigrated
//! schema by name instead of half-starting.
//!
//! PostgreSQL only: privileges are what is under test, and SQLite has none.

use maitre_kit::{
    auth::Role,
    client::outgoing,
    config::ServiceName,
    db,
    testing::{Backend, TestConfig, spawn, token},
};
use maitre_proto::profile::v1::{
    CreateStoreRequest, Store, profile_service_client::ProfileServiceClient,
};
use sea_orm::ConnectionTrait;

/// `url` with its user replaced by `user` (the tests' PostgreSQL trusts loopback users).
fn as_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}@{host}")
}

/// A login role that may read and write the rows of `schema` and nothing more.
async fn create_runtime_role(admin: &sea_orm::DatabaseConnection, schema: &str) -> String {
    let role = format!("{schema}_rt");
    for sql in [
        format!("CREATE ROLE \"{role}\" LOGIN"),
        format!("GRANT USAGE ON SCHEMA \"{schema}\" TO \"{role}\""),
        format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \"{schema}\" TO \"{role}\""
        ),
        format!(
            "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA \"{schema}\" TO \"{role}\""
        ),
    ] {
        admin.execute_unprepared(&sql).await.expect(&sql);
    }
    role
}

async fn drop_role(admin: &sea_orm::DatabaseConnection, role: &str) {
    // Privileges first (DROP ROLE refuses a role that still holds some).
    let _ = admin
        .execute_unprepared(&format!("DROP OWNED BY \"{role}\""))
        .await;
    let _ = admin
        .execute_unprepared(&format!("DROP ROLE IF EXISTS \"{role}\""))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrated_service_runs_with_a_user_without_ddl_rights() {
    let t = TestConfig::new(ServiceName::Profile, Backend::Production, &[]);
    let schema = t.config.database_schema.clone();
    maitre_profile::migrate(&t.config)
        .await
        .expect("migrate as the schema's owner");
    let admin = db::connect(&t.config.database_url, &schema)
        .await
        .expect("admin");
    let role = create_runtime_role(&admin, &schema).await;
    let runtime_url = as_user(&t.config.database_url, &role);

    // The role really may not change the schema.
    let as_runtime = db::connect(&runtime_url, &schema)
        .await
        .expect("connect as the runtime user");
    let refused = as_runtime
        .execute_unprepared("CREATE TABLE ddl_probe (x int)")
        .await
        .expect_err("the runtime user must not create tables");
    assert!(
        refused.to_string().contains("permission denied"),
        "{refused}"
    );

    // The service starts as that user, in production mode (no migrations at start), and writes.
    let mut config = t.config.clone();
    config.database_url = runtime_url;
    config.migrate_on_start = false;
    let service = spawn(config, maitre_profile::serve).await;
    let channel = tonic::transport::Endpoint::from_shared(service.url.clone())
        .unwrap()
        .connect()
        .await
        .expect("the service serves");
    let mut client = ProfileServiceClient::new(channel);
    let created = client
        .create_store(outgoing(
            CreateStoreRequest {
                store: Some(Store {
                    name: "静安店".into(),
                    time_zone: "Asia/Shanghai".into(),
                    code: "JA".into(),
                    ..Store::default()
                }),
                request_id: "least-privilege-1".into(),
            },
            &token("chain-lp", Role::HqAdmin, "hq", &[]),
        ))
        .await
        .expect("a write as the runtime user")
        .into_inner();
    assert_eq!(created.store.expect("store").name, "静安店");

    drop(service);
    drop(as_runtime);
    drop_role(&admin, &role).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_may_not_migrate_refuses_an_unmigrated_schema_by_name() {
    let t = TestConfig::new(ServiceName::Profile, Backend::Production, &[]);
    let mut config = t.config.clone();
    config.migrate_on_start = false;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let started = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        maitre_profile::serve(config, listener, std::future::pending::<()>()),
    )
    .await
    .expect("start is refused, not hung");
    let error = started
        .expect_err("an unmigrated schema is refused")
        .to_string();
    assert!(error.contains("is not migrated"), "{error}");
    assert!(error.contains("maitre migrate"), "{error}");
    assert!(error.contains(&t.config.database_schema), "{error}");

    // And nothing was created on its behalf.
    let admin = db::connect(&t.config.database_url, &t.config.database_schema)
        .await
        .expect("admin");
    let schemas = admin
        .query_one_raw(db::stmt(
            &admin,
            "SELECT count(*) AS n FROM pg_namespace WHERE nspname = $1",
            [t.config.database_schema.clone().into()],
        ))
        .await
        .expect("count")
        .expect("row")
        .try_get::<i64>("", "n")
        .expect("n");
    assert_eq!(schemas, 0);
}
