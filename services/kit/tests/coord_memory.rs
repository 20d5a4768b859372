//! The coordination conformance suite on the in-process implementation, one test per property.

use std::sync::Arc;

use maitre_kit::coord::{Coordination, MemoryCoordination, conformance};

macro_rules! memory_conformance {
    ($($property:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $property() {
                let coordination: Arc<dyn Coordination> = Arc::new(MemoryCoordination::new());
                conformance::$property(coordination).await;
            }
        )*
    };
}

memory_conformance!(
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

/// The whole suite on one shared instance: properties must not interfere through keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_on_one_instance() {
    conformance::run_all(Arc::new(MemoryCoordination::new())).await;
}

#[tokio::test]
async fn connect_without_url_is_in_process() {
    let coordination = maitre_kit::coord::connect(None, "unused")
        .await
        .expect("in-process coordination needs no connection");
    coordination
        .set("k", "v", None)
        .await
        .expect("in-process set");
    assert_eq!(
        coordination.get("k").await.ok().flatten().as_deref(),
        Some("v")
    );
}
