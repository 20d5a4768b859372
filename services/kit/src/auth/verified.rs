//! Tokens already verified by this process, so a caller's next requests skip the signature
//! check (an RS256 verification costs tens of microseconds, and every request through the
//! gateway is verified twice: at the edge and by the service).
//!
//! An entry holds the verified caller and the token's expiry; it is only used while the
//! token would still pass the expiry check. The key is the whole token, so a token that
//! differs in any byte (another signature, another claim) is verified afresh. The map is
//! bounded: when full, expired entries go, and if that frees nothing it starts over.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use super::Caller;

/// Tokens remembered per process.
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub(super) struct VerifiedTokens {
    entries: Mutex<HashMap<String, (Caller, u64)>>,
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

impl VerifiedTokens {
    /// The caller of `token` if it was verified before and `valid_until` (expiry plus
    /// leeway, seconds since the epoch) has not passed.
    pub(super) fn get(&self, token: &str) -> Option<Caller> {
        let entries = self.entries.lock().ok()?;
        let (caller, valid_until) = entries.get(token)?;
        (now_s() <= *valid_until).then(|| caller.clone())
    }

    /// Remembers a verified caller until `valid_until`.
    pub(super) fn put(&self, caller: &Caller, valid_until: u64) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= CAPACITY {
            let now = now_s();
            entries.retain(|_, (_, until)| *until >= now);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(caller.token.clone(), (caller.clone(), valid_until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn caller(token: &str) -> Caller {
        Caller {
            chain_id: "c".into(),
            staff_id: "s".into(),
            role: Role::HqAdmin,
            stores: Vec::new(),
            token: token.into(),
        }
    }

    #[test]
    fn remembers_until_expiry_only() {
        let cache = VerifiedTokens::default();
        cache.put(&caller("live"), now_s() + 60);
        cache.put(&caller("expired"), now_s() - 1);
        assert_eq!(cache.get("live").map(|c| c.token), Some("live".into()));
        assert!(cache.get("expired").is_none());
        assert!(cache.get("unknown").is_none());
    }

    #[test]
    fn stays_bounded() {
        let cache = VerifiedTokens::default();
        for i in 0..CAPACITY + 10 {
            cache.put(&caller(&format!("t{i}")), now_s() + 60);
        }
        let size = cache.entries.lock().map(|e| e.len()).unwrap_or(0);
        assert!(size <= CAPACITY, "{size}");
        assert!(cache.get(&format!("t{}", CAPACITY + 9)).is_some());
    }
}
