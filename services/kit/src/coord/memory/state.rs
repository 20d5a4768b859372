//! The maps behind [`super::MemoryCoordination`] and the rules on them that need no lock:
//! expiry on access, periodic sweeps, fences and the sliding-window decision.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::WRITES_PER_SWEEP;
use crate::coord::{CoordResult, Fence, WindowDecision, duration_ms};

pub(super) struct Entry<T> {
    pub(super) value: T,
    pub(super) expires_at: Option<Instant>,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) values: HashMap<String, Entry<String>>,
    pub(super) locks: HashMap<String, Entry<Fence>>,
    pub(super) balances: HashMap<String, Entry<HashMap<String, i64>>>,
    /// Hits as (Unix µs, cost), ascending by time.
    pub(super) windows: HashMap<String, Entry<Vec<(i64, u64)>>>,
    /// Rate limiters: the theoretical arrival time (Unix µs) of each key.
    pub(super) rates: HashMap<String, Entry<f64>>,
    /// Lease name -> (holder, fence).
    pub(super) leases: HashMap<String, Entry<(String, Fence)>>,
    /// Last fence issued per lock/lease, kept after the lock itself expires.
    last_fence_us: HashMap<String, u64>,
    writes_since_sweep: u32,
}

pub(super) fn unix_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(super) fn expiry(ttl: Option<Duration>, now: Instant) -> Option<Instant> {
    // A TTL too large to represent is "never" rather than a panic.
    ttl.and_then(|ttl| now.checked_add(ttl))
}

pub(super) fn validated(
    field: &'static str,
    ttl: Option<Duration>,
) -> CoordResult<Option<Duration>> {
    ttl.map(|ttl| duration_ms(field, ttl).map(|_| ttl))
        .transpose()
}

/// The live entry at `key`, dropping it first if it has expired.
pub(super) fn live<'m, T>(
    map: &'m mut HashMap<String, Entry<T>>,
    key: &str,
    now: Instant,
) -> Option<&'m mut Entry<T>> {
    if map
        .get(key)
        .is_some_and(|entry| entry.expires_at.is_some_and(|at| at <= now))
    {
        map.remove(key);
    }
    map.get_mut(key)
}

impl State {
    pub(super) fn wrote(&mut self, now: Instant) {
        self.writes_since_sweep += 1;
        if self.writes_since_sweep < WRITES_PER_SWEEP {
            return;
        }
        self.writes_since_sweep = 0;
        let alive = |at: &Option<Instant>| at.is_none_or(|at| at > now);
        self.values.retain(|_, entry| alive(&entry.expires_at));
        self.locks.retain(|_, entry| alive(&entry.expires_at));
        self.balances.retain(|_, entry| alive(&entry.expires_at));
        self.windows.retain(|_, entry| alive(&entry.expires_at));
        self.rates.retain(|_, entry| alive(&entry.expires_at));
        self.leases.retain(|_, entry| alive(&entry.expires_at));
        // A fence behind the clock adds nothing to max(last + 1, now).
        let now_us = u64::try_from(unix_us()).unwrap_or(0);
        self.last_fence_us.retain(|_, last| *last >= now_us);
    }

    pub(super) fn next_fence(&mut self, fence_key: String) -> Fence {
        let now_us = u64::try_from(unix_us()).unwrap_or(0);
        let last = self.last_fence_us.entry(fence_key).or_insert(0);
        *last = last.saturating_add(1).max(now_us);
        Fence(*last)
    }

    pub(super) fn balance_score(&mut self, key: &str, member: &str, now: Instant) -> i64 {
        live(&mut self.balances, key, now)
            .and_then(|entry| entry.value.get(member).copied())
            .unwrap_or(0)
    }

    pub(super) fn balance_add(
        &mut self,
        key: &str,
        member: &str,
        delta: i64,
        ttl: Option<Duration>,
        now: Instant,
    ) -> i64 {
        live(&mut self.balances, key, now); // drops an expired balance before reuse
        let entry = self
            .balances
            .entry(key.to_owned())
            .or_insert_with(|| Entry {
                value: HashMap::new(),
                expires_at: None,
            });
        if ttl.is_some() {
            entry.expires_at = expiry(ttl, now);
        }
        let score = entry.value.entry(member.to_owned()).or_insert(0);
        *score = score.saturating_add(delta);
        *score
    }
}

/// Decides one hit of `cost` against the log `hits` (Unix µs, cost; ascending) and records it
/// when allowed. Mirrors `lua/window_hit.lua`.
pub(super) fn decide_window_hit(
    hits: &mut Vec<(i64, u64)>,
    limit: u64,
    window_us: i64,
    cost: u64,
    now_us: i64,
) -> WindowDecision {
    // A hit leaves the window once `window` has fully elapsed since it.
    hits.retain(|&(at_us, _)| at_us.saturating_add(window_us) > now_us);
    let count: u64 = hits.iter().map(|&(_, cost)| cost).sum();
    if count.saturating_add(cost) <= limit {
        if cost > 0 {
            let at = hits.partition_point(|&(at_us, _)| at_us <= now_us);
            hits.insert(at, (now_us, cost));
        }
        return WindowDecision {
            allowed: true,
            count: count + cost,
            retry_after: Duration::ZERO,
        };
    }
    WindowDecision {
        allowed: false,
        count,
        retry_after: retry_after(hits, count + cost - limit, window_us, now_us),
    }
}

/// Time until the oldest hits whose costs add up to `excess` have left the window.
fn retry_after(hits: &[(i64, u64)], excess: u64, window_us: i64, now_us: i64) -> Duration {
    let mut freed = 0u64;
    for &(at_us, cost) in hits {
        freed += cost;
        if freed >= excess {
            let wait_us = at_us.saturating_add(window_us).saturating_sub(now_us);
            return Duration::from_micros(u64::try_from(wait_us).unwrap_or(0).max(1));
        }
    }
    Duration::from_micros(u64::try_from(window_us).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_counts_costs_and_waits_for_the_oldest_hits() {
        let mut hits = vec![(1_000, 2), (3_000, 1)];
        let refused = decide_window_hit(&mut hits, 3, 10_000, 2, 5_000);
        assert!(!refused.allowed);
        assert_eq!(refused.count, 3);
        // Freeing 2 needs the first hit (cost 2) gone: at 1_000 + 10_000.
        assert_eq!(refused.retry_after, Duration::from_micros(6_000));
        let allowed = decide_window_hit(&mut hits, 3, 10_000, 2, 11_000);
        assert!(allowed.allowed, "the first hit left the window at 11_000");
        assert_eq!(allowed.count, 3);
        assert_eq!(hits, vec![(3_000, 1), (11_000, 2)]);
    }

    #[test]
    fn fences_grow_even_when_issued_within_one_microsecond() {
        let mut state = State::default();
        let first = state.next_fence("lock:k".to_owned());
        let second = state.next_fence("lock:k".to_owned());
        assert!(second > first);
    }
}
