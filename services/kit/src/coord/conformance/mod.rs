//! The one conformance suite every [`Coordination`] implementation passes (STYLE.md: "One
//! conformance suite, run against each implementation of a trait").
//!
//! Library code so that each implementation's test file runs the same properties: one
//! `pub async fn` per property, taking the implementation under test and panicking with a
//! message naming the broken property. Properties use distinct key names, so they may share
//! one instance ([`run_all`]) or get a fresh one each (one `#[tokio::test]` per property).
//! TTL-based properties use sub-second TTLs; the whole suite runs in a few seconds.

pub mod agreement;
mod balances;
mod limits;
mod values;

use std::sync::Arc;
use std::time::Duration;

use super::{CoordResult, Coordination};

pub use agreement::{PickHistory, pick_history, same_picks};
pub use balances::{
    balance_add_and_scores, balance_pick_also_increments, balance_pick_prefers_lowest,
    balance_pick_respects_ceiling, balance_pick_rotates_ties, balance_pick_seeded_only,
    balance_pick_without_candidates, balance_seed_only_when_absent, balances_expire_after_ttl,
    even_split_stays_within_one,
};
pub use limits::{
    lease_exclusive_renewed_and_taken_over, pubsub_delivers, rate_allows_burst_then_refills,
    window_allows_exactly_limit, window_seed_only_when_absent,
};
pub use values::{
    compare_and_set_semantics, incr_counts_and_rejects_non_integers,
    lock_contention_never_overlaps, lock_is_exclusive_and_fences_grow,
    stale_fence_unlock_is_refused, values_expire_after_ttl,
};

/// Short TTL for expiry properties: long enough to observe the value, short enough to wait out.
pub(crate) const SHORT_TTL: Duration = Duration::from_millis(150);
/// Waiting this long after a [`SHORT_TTL`] write is safely past its expiry.
pub(crate) const PAST_SHORT_TTL: Duration = Duration::from_millis(300);
/// TTL that never expires during a property.
pub(crate) const LONG_TTL: Duration = Duration::from_secs(30);

/// The value of a coordination call, or a panic naming the step that failed.
pub(crate) fn ok<T>(result: CoordResult<T>, step: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{step}: coordination call failed: {error}"),
    }
}

/// Runs every property against one instance, one after the other.
pub async fn run_all(coordination: Arc<dyn Coordination>) {
    let c = || Arc::clone(&coordination);
    lock_is_exclusive_and_fences_grow(c()).await;
    stale_fence_unlock_is_refused(c()).await;
    values_expire_after_ttl(c()).await;
    compare_and_set_semantics(c()).await;
    incr_counts_and_rejects_non_integers(c()).await;
    lock_contention_never_overlaps(c()).await;
    balance_pick_prefers_lowest(c()).await;
    balance_pick_rotates_ties(c()).await;
    balance_pick_respects_ceiling(c()).await;
    balance_pick_also_increments(c()).await;
    balance_pick_without_candidates(c()).await;
    balance_pick_seeded_only(c()).await;
    balance_seed_only_when_absent(c()).await;
    balance_add_and_scores(c()).await;
    balances_expire_after_ttl(c()).await;
    even_split_stays_within_one(c()).await;
    window_allows_exactly_limit(c()).await;
    rate_allows_burst_then_refills(c()).await;
    window_seed_only_when_absent(c()).await;
    lease_exclusive_renewed_and_taken_over(c()).await;
    pubsub_delivers(c()).await;
}
