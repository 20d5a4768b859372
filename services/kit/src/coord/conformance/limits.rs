//! Properties of sliding windows, leader leases and wake-up signals.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use tokio::time::{sleep, timeout};

use super::ok;
use crate::coord::{CoordError, Coordination};

fn unix_ms_now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since_epoch.as_millis()).expect("ms fit in i64")
}

/// Exactly `limit` hits pass within a window, the next is refused with a retry_after within
/// the window, and after waiting it out hits pass again. Costs count as weights.
pub async fn window_allows_exactly_limit(coordination: Arc<dyn Coordination>) {
    let c = coordination.as_ref();
    let key = "conformance:window";
    let window = Duration::from_millis(400);
    for expected_count in 1..=5 {
        let decision = ok(c.window_hit(key, 5, window, 1).await, "hit within limit");
        assert!(
            decision.allowed,
            "hit {expected_count} of 5 must be allowed"
        );
        assert_eq!(
            decision.count, expected_count,
            "count after hit {expected_count}"
        );
        assert_eq!(
            decision.retry_after,
            Duration::ZERO,
            "allowed hits need no retry"
        );
    }
    let refused = ok(c.window_hit(key, 5, window, 1).await, "hit over limit");
    assert!(!refused.allowed, "hit 6 of 5 must be refused");
    assert_eq!(refused.count, 5, "a refused hit must not be counted");
    assert!(
        refused.retry_after > Duration::ZERO && refused.retry_after <= window,
        "retry_after must be within the window, got {:?}",
        refused.retry_after
    );
    let peek = ok(c.window_hit(key, 5, window, 0).await, "peek");
    assert_eq!(
        (peek.allowed, peek.count),
        (true, 5),
        "cost 0 only reports the count"
    );
    sleep(refused.retry_after + Duration::from_millis(50)).await;
    let again = ok(
        c.window_hit(key, 5, window, 1).await,
        "hit after retry_after",
    );
    assert!(again.allowed, "a hit after retry_after must be allowed");

    let weighted = "conformance:window:weighted";
    assert!(ok(c.window_hit(weighted, 5, window, 4).await, "cost 4").allowed);
    let heavy = ok(c.window_hit(weighted, 5, window, 2).await, "cost 2");
    assert!(!heavy.allowed, "costs 4 + 2 exceed the limit 5");
    assert_eq!(heavy.count, 4, "refused cost must not be counted");
    assert!(ok(c.window_hit(weighted, 5, window, 1).await, "cost 1").allowed);
    assert!(
        matches!(
            c.window_hit(weighted, 5, window, 6).await,
            Err(CoordError::CostExceedsLimit {
                cost: 6,
                limit: 5,
                ..
            })
        ),
        "a cost above the limit can never pass and must be an error"
    );
}

/// A rate limit lets a burst of exactly `limit` through, refuses the next with a retry_after
/// within the window, lets one more through once that has passed, and keeps keys apart.
pub async fn rate_allows_burst_then_refills(coordination: Arc<dyn Coordination>) {
    let c = coordination.as_ref();
    let key = "conformance:rate";
    let window = Duration::from_millis(500);
    for hit in 1..=5 {
        let decision = ok(c.rate_hit(key, 5, window).await, "hit within limit");
        assert!(decision.allowed, "hit {hit} of 5 must be allowed");
        assert_eq!(decision.retry_after, Duration::ZERO);
    }
    let refused = ok(c.rate_hit(key, 5, window).await, "hit over limit");
    assert!(!refused.allowed, "hit 6 of 5 must be refused");
    assert!(
        refused.retry_after > Duration::ZERO && refused.retry_after <= window,
        "retry_after must be within the window, got {:?}",
        refused.retry_after
    );
    let other = ok(
        c.rate_hit("conformance:rate:other", 5, window).await,
        "other key",
    );
    assert!(other.allowed, "another key has its own limit");
    sleep(refused.retry_after + Duration::from_millis(20)).await;
    assert!(
        ok(c.rate_hit(key, 5, window).await, "after retry_after").allowed,
        "one hit refills after retry_after"
    );
    assert!(
        !ok(c.rate_hit(key, 5, window).await, "right after the refill").allowed,
        "only one hit refilled in that time"
    );
    assert!(
        matches!(
            c.rate_hit(key, 0, window).await,
            Err(CoordError::InvalidArgument { .. })
        ),
        "a zero limit is an error"
    );
}

/// Seeding fills only an absent window, with the hits still inside it; seeded hits count.
pub async fn window_seed_only_when_absent(coordination: Arc<dyn Coordination>) {
    let c = coordination.as_ref();
    let key = "conformance:window:seeded";
    let window = Duration::from_secs(5);
    let now_ms = unix_ms_now();
    let hits = [now_ms - 200, now_ms - 100, now_ms - 60_000];
    assert!(
        ok(c.window_seed(key, &hits, window).await, "seed"),
        "absent window seeds"
    );
    assert!(
        !ok(c.window_seed(key, &[now_ms], window).await, "reseed"),
        "a present window must not be reseeded"
    );
    let hit = ok(c.window_hit(key, 3, window, 1).await, "hit after seed");
    assert_eq!(
        (hit.allowed, hit.count),
        (true, 3),
        "2 seeded hits in window + this one"
    );
    assert!(!ok(c.window_hit(key, 3, window, 1).await, "over seeded").allowed);
    let stale = "conformance:window:stale";
    let old = [now_ms - 60_000];
    assert!(!ok(c.window_seed(stale, &old, window).await, "stale seed"));
    let fresh = ok(
        c.window_hit(stale, 1, window, 1).await,
        "hit on stale-seeded",
    );
    assert_eq!(
        fresh.count, 1,
        "hits older than the window must not be seeded"
    );
}

/// One holder at a time; renewal keeps the fence and extends the lease; after expiry another
/// holder takes over with a larger fence and the former holder can neither renew nor release.
pub async fn lease_exclusive_renewed_and_taken_over(coordination: Arc<dyn Coordination>) {
    // Renewal is observed between the first expiry and the renewed one, so the lease is a
    // little longer than SHORT_TTL to leave margins on a loaded machine.
    const LEASE_TTL: Duration = Duration::from_millis(300);
    let c = coordination.as_ref();
    let name = "conformance:lease";
    let first = ok(
        c.lease_acquire(name, "replica-a", LEASE_TTL).await,
        "acquire a",
    );
    let first = first.expect("a free lease must be granted");
    assert_eq!(
        ok(
            c.lease_acquire(name, "replica-b", LEASE_TTL).await,
            "b while a"
        ),
        None
    );
    sleep(LEASE_TTL / 2).await;
    let renewed = ok(
        c.lease_acquire(name, "replica-a", LEASE_TTL).await,
        "renew a",
    );
    assert_eq!(renewed, Some(first), "renewal must keep the fence");
    sleep(LEASE_TTL * 3 / 4).await;
    assert_eq!(
        ok(
            c.lease_acquire(name, "replica-b", LEASE_TTL).await,
            "b after renewal"
        ),
        None,
        "renewal must extend the lease past its first expiry"
    );
    sleep(LEASE_TTL + Duration::from_millis(100)).await;
    let taken = ok(
        c.lease_acquire(name, "replica-b", LEASE_TTL * 10).await,
        "b takes over",
    );
    let taken = taken.expect("an expired lease must be free");
    assert!(
        taken > first,
        "takeover fence {taken:?} must exceed {first:?}"
    );
    assert_eq!(
        ok(
            c.lease_acquire(name, "replica-a", LEASE_TTL).await,
            "a late"
        ),
        None
    );
    assert!(
        !ok(c.lease_release(name, "replica-a").await, "a releases"),
        "not a's lease"
    );
    assert!(
        ok(c.lease_release(name, "replica-b").await, "b releases"),
        "b holds it"
    );
    let again = ok(
        c.lease_acquire(name, "replica-a", LEASE_TTL).await,
        "a again",
    );
    let again = again.expect("a released lease must be free");
    assert!(again > taken, "a new acquisition must get a larger fence");
}

/// A message published after subscribe returns reaches every subscriber of that channel and
/// no subscriber of another.
pub async fn pubsub_delivers(coordination: Arc<dyn Coordination>) {
    let c = coordination.as_ref();
    let mut first = ok(c.subscribe("conformance:outbox").await, "subscribe first");
    let mut second = ok(c.subscribe("conformance:outbox").await, "subscribe second");
    ok(
        c.publish("conformance:elsewhere", "noise").await,
        "publish elsewhere",
    );
    ok(c.publish("conformance:outbox", "wake").await, "publish");
    for (name, stream) in [("first", &mut first), ("second", &mut second)] {
        let received = timeout(Duration::from_secs(5), stream.next()).await;
        assert_eq!(
            received.ok().flatten().as_deref(),
            Some("wake"),
            "{name} subscriber must receive the message of its channel, only"
        );
    }
}
