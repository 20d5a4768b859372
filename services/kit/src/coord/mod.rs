//! Coordination: the shared, short-lived state of horizontally scaled services — ownership
//! locks, even-split balances, frequency caps and rate limits, leader leases and wake-up
//! signals — behind one trait, [`Coordination`].
//!
//! Two implementations pass one conformance suite ([`conformance`]):
//! - [`RedisCoordination`]: every operation is one Lua script (one round trip), keys are
//!   namespaced by a prefix, windows, fences and leases use Redis server time
//!   (`redis.call('TIME')`) so replica clocks never matter;
//! - [`MemoryCoordination`]: in-process, for the embedded single-process mode.
//!
//! This state is a cache of decisions whose source of truth is the database
//! (ARCHITECTURE.md, "Shared state lives in Redis and is rebuilt from PostgreSQL when Redis is
//! empty"): losing it (FLUSHALL, failover) must never break correctness. Hence
//! - fencing tokens ([`Fence`]) stay monotonic across expiry and across a flush, because they
//!   are `max(last + 1, server time in µs)`;
//! - balances and windows offer seeding primitives ([`Coordination::balance_seed`],
//!   [`Coordination::window_seed`]) that callers use to rebuild from the database when
//!   [`Coordination::balance_exists`] says the state is gone.
//!
//! This module owns no domain rule: which balance a store uses, what a cap is, who leads, is
//! decided by the services.

#[cfg(feature = "testing")]
pub mod conformance;
mod memory;
mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

pub use memory::MemoryCoordination;
pub use redis::RedisCoordination;
pub(crate) use redis::glob_escape;

/// Result of every coordination operation.
pub type CoordResult<T> = Result<T, CoordError>;

/// Why a coordination operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    /// The backend (Redis) could not be reached or answered with an error.
    #[error("coordination backend failed: {0}")]
    Backend(String),
    /// `incr` on a key whose value is not a decimal integer.
    #[error("value at coordination key `{key}` is not an integer")]
    NotAnInteger { key: String },
    /// A window hit whose cost alone exceeds the window's limit can never be allowed.
    #[error("window hit cost {cost} exceeds the limit {limit} of `{key}`")]
    CostExceedsLimit { key: String, cost: u64, limit: u64 },
    /// An argument outside its domain (zero TTL, zero window).
    #[error("invalid coordination argument `{field}`: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    /// A [`Pick::seeded_only`] pick found this balance missing: seed it, then pick again.
    #[error("balance `{key}` is not seeded")]
    Unseeded { key: String },
}

impl From<::redis::RedisError> for CoordError {
    fn from(error: ::redis::RedisError) -> Self {
        CoordError::Backend(error.to_string())
    }
}

/// Monotonic fencing token: strictly greater than every token issued before for the same key,
/// also across expiry and across a Redis flush (it is `max(last + 1, server time in µs)`).
///
/// A holder passes its fence along with every write it makes under the lock or lease; the
/// store of record rejects writes carrying a fence lower than one it has already seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fence(pub u64);

/// One atomic "choose the member with the lowest score and count one for it" (even split,
/// rotation).
#[derive(Clone, Copy, Debug)]
pub struct Pick<'a> {
    /// Sorted balance (member -> i64 score); lowest score wins; a missing member scores 0.
    pub balance: &'a str,
    /// Eligible members, in roster order. Balance members not listed here are ignored.
    pub candidates: &'a [String],
    /// Ties: the first tied candidate at or after index `tie_offset % len`, cyclic. Pass e.g.
    /// the day number to rotate who wins ties from day to day.
    pub tie_offset: u64,
    /// Skip candidates whose score in this OTHER balance is `>=` the maximum (capacity,
    /// monthly cap). Not incremented unless also listed in `also_increment`.
    pub ceiling: Option<(&'a str, i64)>,
    /// Other balances whose winner score is also +1 (e.g. the monthly next to the daily one).
    pub also_increment: &'a [&'a str],
    /// Applied (refreshed) to every balance this pick increments.
    pub ttl: Option<Duration>,
    /// Pick only on balances that exist (seeded): when `balance`, the ceiling balance or one
    /// of `also_increment` is missing (expired, flushed since the caller checked), the pick
    /// changes nothing and answers [`CoordError::Unseeded`]. Without it a pick on a missing
    /// balance starts it from zero, and a flushed balance would then never be re-seeded.
    pub seeded_only: bool,
}

/// Outcome of one sliding-window or rate-limit hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowDecision {
    /// Whether this hit fits in the window (and was counted).
    pub allowed: bool,
    /// Cost counted in the window after this call (including this hit when allowed); for
    /// [`Coordination::rate_hit`], the hits the limiter is still working off.
    pub count: u64,
    /// When denied: how long until enough earlier hits leave the window for this one to fit.
    /// Zero when allowed.
    pub retry_after: Duration,
}

/// Shared coordination state. Every operation is atomic; keys of the different kinds (plain
/// values, locks, balances, windows, leases, channels) live in separate namespaces, so the same
/// key string may be used by several kinds without collision.
///
/// TTLs are rounded up to whole milliseconds; a zero TTL or window is an
/// [`CoordError::InvalidArgument`].
#[async_trait]
pub trait Coordination: Send + Sync + 'static {
    /// Takes the lock `key` for `ttl`. `None` when someone holds it.
    async fn lock(&self, key: &str, ttl: Duration) -> CoordResult<Option<Fence>>;
    /// Releases `key` only if it is still held with `fence`; `false` otherwise (expired, or taken
    /// over by a newer holder).
    async fn unlock(&self, key: &str, fence: Fence) -> CoordResult<bool>;

    /// The plain value at `key`.
    async fn get(&self, key: &str) -> CoordResult<Option<String>>;
    /// Stores `value`; `ttl: None` stores it without expiry (dropping any earlier expiry).
    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> CoordResult<()>;
    /// Replaces the value only if it currently is `expected` (`None` = absent). `new: None`
    /// deletes. `ttl` applies to the new value. `true` when the swap happened.
    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: Option<&str>,
        ttl: Option<Duration>,
    ) -> CoordResult<bool>;
    /// Deletes the plain value (absent is fine).
    async fn delete(&self, key: &str) -> CoordResult<()>;
    /// Adds `delta` to the integer at `key` (absent = 0) and returns the new value. `ttl` is set
    /// only when the key has no expiry yet (so a counter created for a day keeps that day's
    /// expiry: a fixed-window counter).
    async fn incr(&self, key: &str, delta: i64, ttl: Option<Duration>) -> CoordResult<i64>;

    /// Seeds the balance `key` from the database, only when it is absent. `true` if seeded.
    /// Empty `entries` store nothing (a sorted set cannot be empty) and return `false`:
    /// seed every roster member, zeros included, so the balance exists afterwards.
    async fn balance_seed(
        &self,
        key: &str,
        entries: &[(String, i64)],
        ttl: Option<Duration>,
    ) -> CoordResult<bool>;
    /// Atomically chooses the winner of `pick` and increments it; `None` when no candidate
    /// qualifies (no candidates, or all at the ceiling). Returns the winner and its new score
    /// in `pick.balance`.
    async fn balance_pick(&self, pick: Pick<'_>) -> CoordResult<Option<(String, i64)>>;
    /// Adds `delta` to `member` of balance `key` (e.g. −1 when a customer is transferred away)
    /// and returns the new score. `ttl` is refreshed when given.
    async fn balance_add(
        &self,
        key: &str,
        member: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> CoordResult<i64>;
    /// Every member with its score, by ascending score then member.
    async fn balance_scores(&self, key: &str) -> CoordResult<Vec<(String, i64)>>;
    /// Whether the balance exists (false after expiry or a flush: re-seed it).
    async fn balance_exists(&self, key: &str) -> CoordResult<bool>;

    /// Sliding-window limiter (log of hits): counts this hit of `cost` only if the costs within
    /// the last `window` plus `cost` stay `<= limit`. `cost: 0` only reports the count.
    async fn window_hit(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
        cost: u64,
    ) -> CoordResult<WindowDecision>;

    /// Rate limiter (GCRA, one timestamp per key, O(1) whatever the rate): allows `limit`
    /// hits per `window`, a burst of up to `limit` at once, and refills one hit every
    /// `window / limit`. For request rate limits, where a log of every hit ([`window_hit`],
    /// exact for small counts such as frequency caps) would grow with the traffic.
    ///
    /// [`window_hit`]: Coordination::window_hit
    async fn rate_hit(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
    ) -> CoordResult<WindowDecision>;
    /// Seeds the window from the database (one hit of cost 1 per timestamp, in Unix ms), only
    /// when it is absent; hits older than `window` are dropped. `true` if seeded.
    async fn window_seed(
        &self,
        key: &str,
        hits_unix_ms: &[i64],
        window: Duration,
    ) -> CoordResult<bool>;

    /// Leader lease: acquires `name`, or renews it if `holder` already holds it (same fence on
    /// renew; a new, larger fence on a new acquisition). `None` when another holder has it.
    async fn lease_acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> CoordResult<Option<Fence>>;
    /// Releases the lease only if `holder` holds it.
    async fn lease_release(&self, name: &str, holder: &str) -> CoordResult<bool>;

    /// Wake-up signals only (may be lost): e.g. "outbox has new rows".
    async fn publish(&self, channel: &str, message: &str) -> CoordResult<()>;
    /// Messages published on `channel` after this call returns. The stream may end (lost
    /// connection): consumers then resubscribe and poll their source of truth.
    async fn subscribe(&self, channel: &str) -> CoordResult<BoxStream<'static, String>>;
}

/// Redis coordination when `redis_url` is given, in-process coordination otherwise (embedded
/// single-process mode). `prefix` namespaces every Redis key and channel.
pub async fn connect(redis_url: Option<&str>, prefix: &str) -> CoordResult<Arc<dyn Coordination>> {
    match redis_url {
        Some(url) => Ok(Arc::new(RedisCoordination::connect(url, prefix).await?)),
        None => Ok(Arc::new(MemoryCoordination::new())),
    }
}

/// Whole milliseconds of `ttl`, rounded up; zero is refused because it would mean "expired
/// already" in memory and is an error in Redis.
pub(crate) fn duration_ms(field: &'static str, ttl: Duration) -> CoordResult<u64> {
    let micros = ttl.as_micros();
    if micros == 0 {
        return Err(CoordError::InvalidArgument {
            field,
            reason: "must be at least 1 ms".to_owned(),
        });
    }
    Ok(u64::try_from(micros.div_ceil(1000)).unwrap_or(u64::MAX))
}

/// A rate limit's hits per window: at least one.
pub(crate) fn rate_limit(field: &'static str, limit: u64) -> CoordResult<u64> {
    if limit == 0 {
        return Err(CoordError::InvalidArgument {
            field,
            reason: "must be at least 1".to_owned(),
        });
    }
    Ok(limit)
}

/// The GCRA step shared by the implementations: from the stored theoretical arrival time
/// (`None` = a fresh key), `(decision, next arrival time to store when allowed)`.
pub(crate) fn decide_rate_hit(
    tat_us: Option<f64>,
    limit: u64,
    window_us: f64,
    now_us: f64,
) -> (WindowDecision, Option<f64>) {
    let interval = window_us / limit.max(1) as f64;
    let next_tat = tat_us.unwrap_or(now_us).max(now_us) + interval;
    let allowed_at = next_tat - window_us;
    if allowed_at > now_us {
        let wait_us = (allowed_at - now_us).ceil().max(1.0) as u64;
        return (
            WindowDecision {
                allowed: false,
                count: limit,
                retry_after: Duration::from_micros(wait_us),
            },
            None,
        );
    }
    let in_use = ((next_tat - now_us) / interval).ceil() as u64;
    (
        WindowDecision {
            allowed: true,
            count: in_use.min(limit),
            retry_after: Duration::ZERO,
        },
        Some(next_tat),
    )
}

/// The even-split rule, the one every caller runs: the winner of a pick, given each
/// candidate's score in roster order (`None` = not eligible, e.g. at a ceiling). Lowest score
/// wins; among ties, the first at or after `tie_offset % len`, cyclic, where `len` counts the
/// ineligible candidates too.
///
/// The in-process coordinator and assignment's database fallback call this function; the
/// Redis backend runs the same rule inside `lua/balance_pick.lua` (it must decide atomically
/// next to the data), and `tests/coord_pick_agreement.rs` proves on random rosters and
/// histories that the script and this function pick the same winner.
///
/// Fairness comes from the caller's `tie_offset`: a per-store counter that advances with
/// every pick and is never reset by day or month (resetting it daily would hand roster
/// position 0 the first tie, and so the remainder, of every uneven day).
pub fn pick_winner(scores: &[Option<i64>], tie_offset: u64) -> Option<usize> {
    let lowest = scores.iter().flatten().min()?;
    let len = scores.len();
    // The remainder is < len, so it fits in usize.
    let start = usize::try_from(tie_offset % len as u64).unwrap_or(0);
    (0..len)
        .map(|step| (start + step) % len)
        .find(|&index| scores[index] == Some(*lowest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_winner_prefers_lowest_then_rotates_ties() {
        assert_eq!(pick_winner(&[Some(3), Some(1), Some(2)], 0), Some(1));
        assert_eq!(
            pick_winner(&[Some(0), Some(1), Some(0), Some(0)], 1),
            Some(2)
        );
        assert_eq!(pick_winner(&[Some(0), Some(1), Some(1)], 2), Some(0));
        assert_eq!(pick_winner(&[None, Some(5), None], 7), Some(1));
        assert_eq!(pick_winner(&[None, None], 0), None);
        assert_eq!(pick_winner(&[], 3), None);
        assert_eq!(pick_winner(&[Some(0), Some(0)], u64::MAX), Some(1));
    }

    proptest::proptest! {
        /// The winner is eligible with the lowest eligible score, and no eligible tied
        /// candidate lies between the rotation start and the winner (cyclically); `None`
        /// only when nobody is eligible.
        #[test]
        fn pick_winner_follows_the_rule(
            scores in proptest::collection::vec(proptest::option::of(0i64..4), 0..9),
            tie_offset in proptest::prelude::any::<u64>(),
        ) {
            match pick_winner(&scores, tie_offset) {
                None => proptest::prop_assert!(scores.iter().all(Option::is_none)),
                Some(winner) => {
                    let lowest = scores.iter().flatten().min().copied();
                    proptest::prop_assert!(scores[winner].is_some());
                    proptest::prop_assert_eq!(scores[winner], lowest);
                    let len = scores.len();
                    let mut index = (tie_offset % len as u64) as usize;
                    while index != winner {
                        proptest::prop_assert!(scores[index] != scores[winner]);
                        index = (index + 1) % len;
                    }
                }
            }
        }

        /// Over many picks with an advancing offset, counts stay within one of each other:
        /// the property the even split exists for.
        #[test]
        fn repeated_picks_stay_within_one(len in 1usize..7, picks in 0usize..60, first in 0u64..1000) {
            let mut counts = vec![0i64; len];
            for step in 0..picks {
                let scores: Vec<Option<i64>> = counts.iter().copied().map(Some).collect();
                let winner = pick_winner(&scores, first + step as u64).expect("someone is eligible");
                counts[winner] += 1;
            }
            let spread = counts.iter().max().unwrap_or(&0) - counts.iter().min().unwrap_or(&0);
            proptest::prop_assert!(spread <= 1, "counts {counts:?}");
        }
    }

    #[test]
    fn duration_ms_rounds_up_and_refuses_zero() {
        assert_eq!(duration_ms("ttl", Duration::from_micros(1)).ok(), Some(1));
        assert_eq!(
            duration_ms("ttl", Duration::from_millis(150)).ok(),
            Some(150)
        );
        assert_eq!(
            duration_ms("ttl", Duration::from_micros(1500)).ok(),
            Some(2)
        );
        assert!(matches!(
            duration_ms("ttl", Duration::ZERO),
            Err(CoordError::InvalidArgument { field: "ttl", .. })
        ));
    }
}
