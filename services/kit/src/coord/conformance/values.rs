//! Properties of locks, fences and plain values.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::{LONG_TTL, PAST_SHORT_TTL, SHORT_TTL, ok};
use crate::coord::{CoordError, Coordination, Fence};

/// A held lock excludes others; unlock needs the holder's fence; every new acquisition gets a
/// strictly larger fence.
pub async fn lock_is_exclusive_and_fences_grow(coordination: Arc<dyn Coordination>) {
    let c = coordination.as_ref();
    let key = "conformance:lock:exclusive";
    let first = ok(c.lock(key, LONG_TTL).await, "first lock");
    let first = first.expect("a free lock must be granted");
    assert_eq!(
        ok(c.lock(key, LONG_TTL).await, "second lock"),
        None,
        "a held lock must not be granted again"
    );
    assert!(
        !ok(c.unlock(key, Fence(first.0 + 1)).await, "foreign unlock"),
        "unlock with a fence that does not hold the lock must be refused"
    );
    assert!(
        ok(c.unlock(key, first).await, "unlock"),
        "holder's unlock must succeed"
    );
    assert!(
        !ok(c.unlock(key, first).await, "second unlock"),
        "unlocking a released lock must report false"
    );
    let second = ok(c.lock(key, LONG_TTL).await, "relock").expect("a released lock is free");
    assert!(
        second > first,
        "fence must grow after unlock: {second:?} <= {first:?}"
    );
    let other = ok(
        c.lock("conformance:lock:other", LONG_TTL).await,
        "other lock",
    );
    assert!(
        other.is_some(),
        "locks on different keys must be independent"
    );
    assert!(ok(c.unlock(key, second).await, "final unlock"));
}

/// After a lock expires and is taken by someone else, the former holder's fence is stale: its
/// unlock is refused and the new holder keeps the lock.
pub async fn stale_fence_unlock_is_refused(coordination: Arc<dyn Coordination>) {
    let c = coordination.as_ref();
    let key = "conformance:lock:stale";
    let stale = ok(c.lock(key, SHORT_TTL).await, "lock").expect("free lock granted");
    sleep(PAST_SHORT_TTL).await;
    let fresh = ok(c.lock(key, LONG_TTL).await, "lock after expiry")
        .expect("an expired lock must be free again");
    assert!(
        fresh > stale,
        "fence must grow across expiry: {fresh:?} <= {stale:?}"
    );
    assert!(
        !ok(c.unlock(key, stale).await, "stale unlock"),
        "unlock with the expired holder's fence must be refused"
    );
    assert_eq!(
        ok(c.lock(key, LONG_TTL).await, "lock while fresh holder holds"),
        None,
        "a refused stale unlock must leave the new holder's lock in place"
    );
    assert!(ok(c.unlock(key, fresh).await, "fresh unlock"));
}

/// Values honour their TTL; a write without TTL clears an earlier expiry.
pub async fn values_expire_after_ttl(coordination: Arc<dyn Coordination>) {
    let c = coordination.as_ref();
    ok(
        c.set("conformance:ttl:short", "v", Some(SHORT_TTL)).await,
        "set short",
    );
    ok(
        c.set("conformance:ttl:cleared", "v1", Some(SHORT_TTL))
            .await,
        "set cleared",
    );
    ok(
        c.set("conformance:ttl:cleared", "v2", None).await,
        "set without ttl",
    );
    ok(
        c.incr("conformance:ttl:counter", 1, Some(SHORT_TTL)).await,
        "incr",
    );
    assert_eq!(
        ok(c.get("conformance:ttl:short").await, "get before expiry").as_deref(),
        Some("v"),
        "a value must be readable before its TTL"
    );
    sleep(PAST_SHORT_TTL).await;
    assert_eq!(
        ok(c.get("conformance:ttl:short").await, "get after expiry"),
        None,
        "a value must be gone after its TTL"
    );
    assert_eq!(
        ok(
            c.get("conformance:ttl:counter").await,
            "counter after expiry"
        ),
        None,
        "a counter must be gone after its TTL"
    );
    assert_eq!(
        ok(c.get("conformance:ttl:cleared").await, "get rewritten").as_deref(),
        Some("v2"),
        "set without TTL must drop the earlier expiry"
    );
    ok(c.delete("conformance:ttl:cleared").await, "delete");
    assert_eq!(
        ok(c.get("conformance:ttl:cleared").await, "get deleted"),
        None
    );
    ok(
        c.delete("conformance:ttl:never-set").await,
        "delete of absent key must succeed",
    );
    assert!(
        matches!(
            c.set("conformance:ttl:zero", "v", Some(Duration::ZERO))
                .await,
            Err(CoordError::InvalidArgument { field: "ttl", .. })
        ),
        "a zero TTL must be refused as an invalid argument"
    );
}

/// compare_and_set swaps only from the expected value (None = absent) and deletes with None.
pub async fn compare_and_set_semantics(coordination: Arc<dyn Coordination>) {
    let c = coordination.as_ref();
    let key = "conformance:cas";
    let cas = |expected, new| c.compare_and_set(key, expected, new, Some(LONG_TTL));
    assert!(
        ok(cas(None, Some("a")).await, "create"),
        "create when absent must swap"
    );
    assert!(
        !ok(cas(None, Some("x")).await, "create again"),
        "create when present must not swap"
    );
    assert!(
        !ok(cas(Some("b"), Some("c")).await, "wrong expected"),
        "wrong expected must not swap"
    );
    assert_eq!(
        ok(c.get(key).await, "get").as_deref(),
        Some("a"),
        "refused swap must not write"
    );
    assert!(
        ok(cas(Some("a"), Some("b")).await, "swap"),
        "matching expected must swap"
    );
    assert_eq!(ok(c.get(key).await, "get swapped").as_deref(), Some("b"));
    assert!(
        !ok(cas(Some("a"), None).await, "stale delete"),
        "stale delete must not swap"
    );
    assert!(
        ok(cas(Some("b"), None).await, "delete"),
        "matching delete must swap"
    );
    assert_eq!(
        ok(c.get(key).await, "get deleted"),
        None,
        "new = None must delete"
    );
    assert!(
        !ok(cas(Some("b"), Some("c")).await, "expect on absent"),
        "absent is not a value"
    );
    let short = c.compare_and_set("conformance:cas:ttl", None, Some("t"), Some(SHORT_TTL));
    assert!(ok(short.await, "create with ttl"));
    sleep(PAST_SHORT_TTL).await;
    assert_eq!(
        ok(c.get("conformance:cas:ttl").await, "get expired cas"),
        None,
        "compare_and_set must apply its TTL"
    );
}

/// incr starts from 0, adds signed deltas, sets its TTL only on a key without expiry, and
/// refuses non-integer values.
pub async fn incr_counts_and_rejects_non_integers(coordination: Arc<dyn Coordination>) {
    let c = coordination.as_ref();
    let key = "conformance:incr";
    assert_eq!(
        ok(c.incr(key, 5, Some(LONG_TTL)).await, "incr from absent"),
        5
    );
    assert_eq!(ok(c.incr(key, -7, Some(LONG_TTL)).await, "decrement"), -2);
    assert_eq!(ok(c.get(key).await, "get counter").as_deref(), Some("-2"));
    ok(
        c.set("conformance:incr:text", "abc", Some(LONG_TTL)).await,
        "set text",
    );
    assert!(
        matches!(
            c.incr("conformance:incr:text", 1, None).await,
            Err(CoordError::NotAnInteger { .. })
        ),
        "incr of a non-integer must fail with NotAnInteger"
    );
    // A fixed window: the second incr must not push the first one's expiry out.
    let fixed = "conformance:incr:fixed";
    let ttl = Duration::from_millis(300);
    ok(c.incr(fixed, 1, Some(ttl)).await, "first fixed incr");
    sleep(Duration::from_millis(200)).await;
    assert_eq!(
        ok(c.incr(fixed, 1, Some(ttl)).await, "second fixed incr"),
        2
    );
    sleep(Duration::from_millis(200)).await;
    assert_eq!(
        ok(c.get(fixed).await, "get fixed after first ttl"),
        None,
        "incr must keep the expiry set at creation, not refresh it"
    );
}

/// 50 tasks contend for one lock: holders never overlap and fences grow in acquisition order.
pub async fn lock_contention_never_overlaps(coordination: Arc<dyn Coordination>) {
    const TASKS: usize = 50;
    let key = "conformance:lock:contended";
    let held = Arc::new(AtomicBool::new(false));
    let last_fence = Arc::new(AtomicU64::new(0));
    let acquisitions = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut tasks = Vec::with_capacity(TASKS);
    for task in 0..TASKS {
        let coordination = Arc::clone(&coordination);
        let (held, last_fence, acquisitions) = (
            Arc::clone(&held),
            Arc::clone(&last_fence),
            Arc::clone(&acquisitions),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                assert!(Instant::now() < deadline, "task {task} never got the lock");
                let Some(fence) = ok(coordination.lock(key, LONG_TTL).await, "contended lock")
                else {
                    sleep(Duration::from_millis(1 + (task % 3) as u64)).await;
                    continue;
                };
                assert!(
                    !held.swap(true, Ordering::SeqCst),
                    "two holders of one lock at once (fence {fence:?})"
                );
                let previous = last_fence.fetch_max(fence.0, Ordering::SeqCst);
                assert!(
                    previous < fence.0,
                    "fence {fence:?} not above earlier {previous}"
                );
                tokio::task::yield_now().await;
                held.store(false, Ordering::SeqCst);
                acquisitions.fetch_add(1, Ordering::SeqCst);
                assert!(
                    ok(coordination.unlock(key, fence).await, "contended unlock"),
                    "holder's unlock must succeed"
                );
                return;
            }
        }));
    }
    for task in tasks {
        if let Err(error) = task.await {
            std::panic::resume_unwind(error.into_panic());
        }
    }
    assert_eq!(
        acquisitions.load(Ordering::SeqCst),
        TASKS,
        "every task must hold the lock once"
    );
}
