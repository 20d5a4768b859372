//! A small in-process map whose entries expire, bounded in size: the one shape behind the
//! services' short-lived copies of rarely changing data (policies, stores, menus, verified
//! tokens). A full map first drops its expired entries and, if that frees nothing, starts
//! over — a cache, never a source of truth.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most, unless [`TtlMap::with_capacity`] says otherwise.
pub const DEFAULT_CAPACITY: usize = 20_000;

/// Keys to values, each until its own expiry.
pub struct TtlMap<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
    capacity: usize,
}

impl<K: Hash + Eq, V: Clone> Default for TtlMap<K, V> {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl<K: Hash + Eq, V: Clone> TtlMap<K, V> {
    /// An empty map keeping at most `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The value at `key` unless it has expired.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.lock().ok()?;
        let (expires_at, value) = entries.get(key)?;
        (Instant::now() < *expires_at).then(|| value.clone())
    }

    /// Keeps `value` at `key` for `ttl`.
    pub fn insert(&self, key: K, value: V, ttl: Duration) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let now = Instant::now();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (expires_at, _)| *expires_at > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        let expires_at = now.checked_add(ttl).unwrap_or(now);
        entries.insert(key, (expires_at, value));
    }

    /// Drops every entry whose key fails `keep` (e.g. a chain's entries after a change).
    pub fn retain(&self, mut keep: impl FnMut(&K) -> bool) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|key, _| keep(key));
        }
    }

    /// Entries held, expired ones included until they are swept.
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |entries| entries.len())
    }

    /// Whether the map holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_on_their_own_time() {
        let map: TtlMap<String, u32> = TtlMap::default();
        map.insert("long".into(), 1, Duration::from_secs(60));
        map.insert("gone".into(), 2, Duration::ZERO);
        assert_eq!(map.get("long"), Some(1));
        assert_eq!(map.get("gone"), None);
        assert_eq!(map.get("never"), None);
    }

    #[test]
    fn stays_bounded_and_keeps_the_newest() {
        let map: TtlMap<u32, u32> = TtlMap::with_capacity(10);
        for i in 0..25 {
            map.insert(i, i, Duration::from_secs(60));
        }
        assert!(map.len() <= 10, "{}", map.len());
        assert_eq!(map.get(&24), Some(24));
    }

    #[test]
    fn retain_drops_what_fails_the_test() {
        let map: TtlMap<(String, u32), u32> = TtlMap::default();
        map.insert(("a".into(), 1), 1, Duration::from_secs(60));
        map.insert(("b".into(), 1), 2, Duration::from_secs(60));
        map.retain(|(chain, _)| chain != "a");
        assert_eq!(map.get(&("a".to_owned(), 1)), None);
        assert_eq!(map.get(&("b".to_owned(), 1)), Some(2));
    }
}
