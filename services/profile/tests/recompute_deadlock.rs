//! A class recompute that the database aborts to end a deadlock is run again, not
//! reported as a failure. Live events lock their customers while a recompute (after an
//! import, a policy change, or daily) holds locks of its own; PostgreSQL breaks such a
//! cycle by aborting one side. A history import answered 500 while live contacts were
//! being recorded, although every one of its events was saved. PostgreSQL only: SQLite
//! serialises writers, so the cycle cannot form there.

mod common;

use std::time::Duration;

use common::*;
use maitre_kit::testing::Backend;
use maitre_proto::profile::v1 as pb;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

#[tokio::test]
async fn a_recompute_aborted_by_a_deadlock_is_run_again() {
    let h = Harness::start(Backend::Production).await;
    let phones = ["13800150001", "13800150002"];
    let events: Vec<pb::ContactEvent> = phones
        .iter()
        .enumerate()
        .map(|(i, p)| visit(&format!("dl-{i}"), vec![phone(p)], 10_000 * (i as i64 + 1)))
        .collect();
    h.api()
        .record_events_batch(req(pb::RecordEventsBatchRequest { events }, &hq()))
        .await
        .expect("imported");
    let mut ids = Vec::new();
    for p in phones {
        ids.push(h.lookup_phone(p).await.customer_id);
    }
    ids.sort();
    let (first, second) = (ids[0].clone(), ids[1].clone());

    let config = &h.config.config;
    let db = maitre_kit::db::connect(&config.database_url, &config.database_schema)
        .await
        .expect("database");
    let sql = |text: &str, values: Vec<sea_orm::Value>| {
        Statement::from_sql_and_values(sea_orm::DatabaseBackend::Postgres, text, values)
    };
    // Both classes stale, so the recompute locks both customers, the first one first.
    db.execute_raw(sql(
        "UPDATE customers SET class = 0 WHERE chain_id = $1",
        vec![CHAIN.into()],
    ))
    .await
    .expect("made stale");

    // Another writer holds the second customer…
    let other = db.begin().await.expect("begin");
    let lock =
        "SELECT customer_id FROM customers WHERE chain_id = $1 AND customer_id = $2 FOR UPDATE";
    other
        .execute_raw(sql(lock, vec![CHAIN.into(), second.clone().into()]))
        .await
        .expect("second locked");
    let other_pid: i32 = other
        .query_one_raw(sql("SELECT pg_backend_pid() AS pid", vec![]))
        .await
        .expect("pid")
        .expect("row")
        .try_get("", "pid")
        .expect("pid");

    // …while re-saving the policy recomputes every class: it locks the first customer and
    // waits for the second.
    let policy = h
        .api()
        .get_classification_policy(req(pb::GetClassificationPolicyRequest {}, &hq()))
        .await
        .expect("policy")
        .into_inner()
        .policy;
    let mut api = h.api();
    let resave = tokio::spawn(async move {
        api.update_classification_policy(req(
            pb::UpdateClassificationPolicyRequest { policy },
            &hq(),
        ))
        .await
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let waiting: i64 = db
            .query_one_raw(sql(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                vec![other_pid.into()],
            ))
            .await
            .expect("activity")
            .expect("row")
            .try_get("", "n")
            .expect("n");
        if waiting > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the recompute never waited for the second customer"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Now the other writer wants the first customer: a cycle. The recompute waited first,
    // so PostgreSQL's deadlock check (after `deadlock_timeout`) aborts the recompute.
    let _ = other
        .execute_raw(sql(lock, vec![CHAIN.into(), first.clone().into()]))
        .await;
    other.rollback().await.expect("rollback");

    resave
        .await
        .expect("task")
        .expect("the policy is saved and every class recomputed despite the deadlock");
    let stale: i64 = db
        .query_one_raw(sql(
            "SELECT count(*) AS n FROM customers WHERE chain_id = $1 AND class = 0",
            vec![CHAIN.into()],
        ))
        .await
        .expect("classes")
        .expect("row")
        .try_get("", "n")
        .expect("n");
    assert_eq!(stale, 0, "every class recomputed");
}
