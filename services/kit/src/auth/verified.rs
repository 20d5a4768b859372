//! Tokens already verified by this process, so a caller's next requests skip the signature
//! check (an RS256 verification costs tens of microseconds, and every request through the
//! gateway is verified twice: at the edge and by the service).
//!
//! An entry holds the verified caller and the token's expiry; it is only used while the
//! token would still pass the expiry check. The key is the whole token, so a token that
//! differs in any byte (another signature, another claim) is verified afresh. The map is
//! bounded ([`TtlMap`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Caller;
use crate::ttl_map::TtlMap;

/// Tokens remembered per process.
const CAPACITY: usize = 10_000;

pub(super) struct VerifiedTokens {
    entries: TtlMap<String, Caller>,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self {
            entries: TtlMap::with_capacity(CAPACITY),
        }
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

impl VerifiedTokens {
    /// The caller of `token` if it was verified before and has not expired since.
    pub(super) fn get(&self, token: &str) -> Option<Caller> {
        self.entries.get(token)
    }

    /// Remembers a verified caller until `valid_until` (expiry plus leeway, seconds since
    /// the epoch).
    pub(super) fn put(&self, caller: &Caller, valid_until: u64) {
        let ttl = Duration::from_secs(valid_until.saturating_sub(now_s()));
        self.entries
            .insert(caller.token.clone(), caller.clone(), ttl);
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
        let size = cache.entries.len();
        assert!(size <= CAPACITY, "{size}");
        assert!(cache.get(&format!("t{}", CAPACITY + 9)).is_some());
    }
}
