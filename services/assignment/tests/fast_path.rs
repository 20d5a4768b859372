//! The fast path, measured by counting: when the owner does not change, a contact costs ONE
//! coordination round trip and writes nothing to the database. The engine runs on a runtime
//! whose coordination counts every call; the database is checked for new rows.

mod common;

use maitre_kit::on_both_backends;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use futures::stream::BoxStream;
use maitre_assignment::app::{ContactInput, Engine};
use maitre_kit::coord::{CoordResult, Coordination, Fence, Pick, WindowDecision};
use maitre_kit::runtime::Runtime;
use maitre_kit::testing::Backend;
use sea_orm::ConnectionTrait;

/// Coordination that counts round trips and forwards them.
struct Counting {
    inner: Arc<dyn Coordination>,
    calls: AtomicUsize,
}

impl Counting {
    fn tick(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Coordination for Counting {
    async fn lock(&self, key: &str, ttl: Duration) -> CoordResult<Option<Fence>> {
        self.tick();
        self.inner.lock(key, ttl).await
    }
    async fn unlock(&self, key: &str, fence: Fence) -> CoordResult<bool> {
        self.tick();
        self.inner.unlock(key, fence).await
    }
    async fn get(&self, key: &str) -> CoordResult<Option<String>> {
        self.tick();
        self.inner.get(key).await
    }
    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> CoordResult<()> {
        self.tick();
        self.inner.set(key, value, ttl).await
    }
    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: Option<&str>,
        ttl: Option<Duration>,
    ) -> CoordResult<bool> {
        self.tick();
        self.inner.compare_and_set(key, expected, new, ttl).await
    }
    async fn delete(&self, key: &str) -> CoordResult<()> {
        self.tick();
        self.inner.delete(key).await
    }
    async fn incr(&self, key: &str, delta: i64, ttl: Option<Duration>) -> CoordResult<i64> {
        self.tick();
        self.inner.incr(key, delta, ttl).await
    }
    async fn balance_seed(
        &self,
        key: &str,
        entries: &[(String, i64)],
        ttl: Option<Duration>,
    ) -> CoordResult<bool> {
        self.tick();
        self.inner.balance_seed(key, entries, ttl).await
    }
    async fn balance_pick(&self, pick: Pick<'_>) -> CoordResult<Option<(String, i64)>> {
        self.tick();
        self.inner.balance_pick(pick).await
    }
    async fn balance_add(
        &self,
        key: &str,
        member: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> CoordResult<i64> {
        self.tick();
        self.inner.balance_add(key, member, delta, ttl).await
    }
    async fn balance_scores(&self, key: &str) -> CoordResult<Vec<(String, i64)>> {
        self.tick();
        self.inner.balance_scores(key).await
    }
    async fn balance_exists(&self, key: &str) -> CoordResult<bool> {
        self.tick();
        self.inner.balance_exists(key).await
    }
    async fn window_hit(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
        cost: u64,
    ) -> CoordResult<WindowDecision> {
        self.tick();
        self.inner.window_hit(key, limit, window, cost).await
    }
    async fn rate_hit(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
    ) -> CoordResult<WindowDecision> {
        self.tick();
        self.inner.rate_hit(key, limit, window).await
    }
    async fn window_seed(
        &self,
        key: &str,
        hits_unix_ms: &[i64],
        window: Duration,
    ) -> CoordResult<bool> {
        self.tick();
        self.inner.window_seed(key, hits_unix_ms, window).await
    }
    async fn lease_acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> CoordResult<Option<Fence>> {
        self.tick();
        self.inner.lease_acquire(name, holder, ttl).await
    }
    async fn lease_release(&self, name: &str, holder: &str) -> CoordResult<bool> {
        self.tick();
        self.inner.lease_release(name, holder).await
    }
    async fn publish(&self, channel: &str, message: &str) -> CoordResult<()> {
        self.tick();
        self.inner.publish(channel, message).await
    }
    async fn subscribe(&self, channel: &str) -> CoordResult<BoxStream<'static, String>> {
        self.tick();
        self.inner.subscribe(channel).await
    }
}

async fn count(runtime: &Runtime, table: &str) -> i64 {
    let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}");
    let row = runtime
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            runtime.db.get_database_backend(),
            sql,
        ))
        .await
        .expect("count")
        .expect("row");
    row.try_get_by_index(0).expect("count value")
}

fn booking(customer: &str, via: &str, seconds: i64, event: &str) -> ContactInput {
    ContactInput {
        chain_id: CHAIN.into(),
        customer_id: customer.into(),
        store_id: STORE.into(),
        contact_manager_id: via.into(),
        amount_fen: 0,
        occurred_at: at(seconds),
        source_event_id: event.into(),
        latest_other_contact_us: None,
    }
}

async fn one_round_trip_no_write(backend: Backend) {
    let h = Harness::start(backend, 1).await;
    let mut api = h.api();
    add_manager(&mut api, "wang", &[STORE], 0).await;
    add_manager(&mut api, "zhang", &[STORE], 0).await;
    let mut runtime =
        Runtime::start::<maitre_assignment::storage::Migrator>(h.config.config.clone())
            .await
            .expect("runtime");
    let counting = Arc::new(Counting {
        inner: runtime.coord.clone(),
        calls: AtomicUsize::new(0),
    });
    runtime.coord = counting.clone();
    let engine = Engine::new(runtime.clone());

    let first = engine
        .assign_on_contact(booking("li", "wang", 0, "f1"))
        .await
        .expect("first");
    assert!(first.changed);
    let (contacts, decisions) = (
        count(&runtime, "asg_contact").await,
        count(&runtime, "asg_decision").await,
    );

    // Warm: the owner row is cached and the policy known. The same manager again, an
    // online booking, and the same manager a third time: owner unchanged each time.
    for (seconds, via, event) in [(60, "wang", "f2"), (120, "", "f3"), (180, "wang", "f4")] {
        counting.calls.store(0, Ordering::SeqCst);
        let outcome = engine
            .assign_on_contact(booking("li", via, seconds, event))
            .await
            .expect("fast");
        assert!(!outcome.changed);
        assert_eq!(outcome.row.manager_id, "wang");
        assert_eq!(
            counting.calls.load(Ordering::SeqCst),
            1,
            "one coordination round trip"
        );
    }
    assert_eq!(
        count(&runtime, "asg_contact").await,
        contacts,
        "no contact row written"
    );
    assert_eq!(
        count(&runtime, "asg_decision").await,
        decisions,
        "no decision written"
    );

    // A booking through another manager is a change: it takes the slow path and is written.
    let moved = engine
        .assign_on_contact(booking("li", "zhang", 240, "f5"))
        .await
        .expect("slow");
    assert!(moved.changed);
    assert_eq!(count(&runtime, "asg_decision").await, decisions + 1);
    // ... and the cache was republished: the next same-manager booking is fast again.
    counting.calls.store(0, Ordering::SeqCst);
    let again = engine
        .assign_on_contact(booking("li", "zhang", 300, "f6"))
        .await
        .expect("fast");
    assert_eq!(again.row.manager_id, "zhang");
    assert_eq!(counting.calls.load(Ordering::SeqCst), 1);
}

on_both_backends!(one_round_trip_no_write);
