//! The coordination conformance suite on Redis (`MAITRE_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`), one test per property, each in its own random key prefix so tests
//! run in parallel on a shared server. Plus: losing this test's keys mid-way (what a FLUSHALL
//! does to everyone) keeps fences monotonic and lets callers re-seed.

use std::sync::Arc;
use std::time::Duration;

use maitre_kit::coord::{Coordination, Fence, Pick, RedisCoordination, conformance};

fn redis_url() -> String {
    std::env::var("MAITRE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn fresh_namespace() -> Arc<RedisCoordination> {
    let prefix = format!("maitre-test-coord-{:016x}", rand::random::<u64>());
    let coordination = RedisCoordination::connect(&redis_url(), &prefix)
        .await
        .unwrap_or_else(|error| panic!("Redis at {} must be reachable: {error}", redis_url()));
    Arc::new(coordination)
}

macro_rules! redis_conformance {
    ($($property:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $property() {
                let redis = fresh_namespace().await;
                conformance::$property(redis.clone()).await;
                redis.clear_namespace().await.expect("cleanup of the test namespace");
            }
        )*
    };
}

redis_conformance!(
    lock_is_exclusive_and_fences_grow,
    stale_fence_unlock_is_refused,
    values_expire_after_ttl,
    compare_and_set_semantics,
    incr_counts_and_rejects_non_integers,
    lock_contention_never_overlaps,
    balance_pick_prefers_lowest,
    balance_pick_rotates_ties,
    balance_pick_respects_ceiling,
    balance_pick_also_increments,
    balance_pick_without_candidates,
    balance_pick_seeded_only,
    balance_seed_only_when_absent,
    balance_add_and_scores,
    balances_expire_after_ttl,
    even_split_stays_within_one,
    window_allows_exactly_limit,
    rate_allows_burst_then_refills,
    window_seed_only_when_absent,
    lease_exclusive_renewed_and_taken_over,
    pubsub_delivers,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_on_one_namespace() {
    let redis = fresh_namespace().await;
    conformance::run_all(redis.clone()).await;
    redis.clear_namespace().await.expect("cleanup");
}

/// Losing every key of the namespace (SCAN + DEL of this test's prefix only, as a FLUSHALL
/// would for everyone) must not break correctness: fences stay above every fence issued
/// before, balances and windows report absent and can be seeded again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_keeps_fences_monotonic_and_allows_reseeding() {
    let redis = fresh_namespace().await;
    let c: &dyn Coordination = redis.as_ref();
    let ttl = Duration::from_secs(30);
    let roster = ["wang".to_owned(), "li".to_owned()];
    let seeded = vec![("wang".to_owned(), 3), ("li".to_owned(), 1)];

    let lock_before = c
        .lock("customer:42", ttl)
        .await
        .expect("lock")
        .expect("free");
    let lease_before = c
        .lease_acquire("outbox-relay", "replica-a", ttl)
        .await
        .expect("lease");
    let lease_before = lease_before.expect("free lease");
    assert!(
        c.balance_seed("store:7:day", &seeded, Some(ttl))
            .await
            .expect("seed")
    );
    let pick = || Pick {
        balance: "store:7:day",
        candidates: &roster,
        tie_offset: 0,
        ceiling: None,
        also_increment: &[],
        ttl: Some(ttl),
        seeded_only: false,
    };
    assert_eq!(
        c.balance_pick(pick()).await.expect("pick"),
        Some(("li".to_owned(), 2))
    );

    let deleted = redis
        .clear_namespace()
        .await
        .expect("flush of the namespace");
    assert!(
        deleted >= 4,
        "lock, fence memos, lease and balance must be deleted ({deleted})"
    );
    assert!(
        !c.balance_exists("store:7:day").await.expect("exists"),
        "flushed balance is absent"
    );

    let lock_after = c
        .lock("customer:42", ttl)
        .await
        .expect("lock")
        .expect("flushed lock free");
    assert!(
        lock_after > lock_before,
        "fence after flush {lock_after:?} <= {lock_before:?}"
    );
    assert!(
        !c.unlock("customer:42", lock_before).await.expect("unlock"),
        "the pre-flush fence must not release the new holder's lock"
    );
    let lease_after = c
        .lease_acquire("outbox-relay", "replica-b", ttl)
        .await
        .expect("lease");
    let lease_after = lease_after.expect("flushed lease is free");
    assert!(
        lease_after > lease_before,
        "lease fence after flush must grow"
    );
    assert!(lease_after.0 > Fence(0).0);

    // Re-seed from the "database" (the counts the caller knows), then picks continue from it.
    let recounted = vec![("wang".to_owned(), 3), ("li".to_owned(), 2)];
    assert!(
        c.balance_seed("store:7:day", &recounted, Some(ttl))
            .await
            .expect("reseed")
    );
    assert_eq!(
        c.balance_pick(pick()).await.expect("pick"),
        Some(("li".to_owned(), 3))
    );
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis(),
    )
    .expect("ms fit");
    assert!(
        c.window_seed("sms:guest:9", &[now_ms], ttl)
            .await
            .expect("window seed")
    );
    let capped = c.window_hit("sms:guest:9", 1, ttl, 1).await.expect("hit");
    assert!(
        !capped.allowed,
        "a re-seeded cap must still hold after the flush"
    );
    redis.clear_namespace().await.expect("cleanup");
}

/// Keys live under the prefix, so clearing one namespace leaves another untouched.
#[tokio::test]
async fn namespaces_are_isolated() {
    let (one, two) = (fresh_namespace().await, fresh_namespace().await);
    one.set("shared-name", "one", None).await.expect("set one");
    two.set("shared-name", "two", None).await.expect("set two");
    assert_eq!(
        one.get("shared-name").await.expect("get").as_deref(),
        Some("one")
    );
    assert_eq!(one.clear_namespace().await.expect("clear one"), 1);
    assert_eq!(one.get("shared-name").await.expect("get"), None);
    assert_eq!(
        two.get("shared-name").await.expect("get").as_deref(),
        Some("two")
    );
    two.clear_namespace().await.expect("cleanup");
}
