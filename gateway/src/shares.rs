//! Each chain's share of a gateway replica: no chain may hold more than its share of the
//! replica's requests in flight, weighted by body size, so one tenant's burst of large or slow
//! requests waits behind itself instead of filling the shared upstream connections and worker
//! threads every other tenant's calls need (issue 21, noisy neighbour).
//!
//! A request costs one unit, plus one per [`BYTES_PER_UNIT`] of its declared body
//! (`content-length`): a 300 KB body costs 10 units, as it takes about ten ordinary calls'
//! worth of parsing and transcoding, and a body of half a megabyte or more a whole share (with
//! the default 16), so a chain's largest bodies go one at a time. A chain holds at most
//! `units_per_chain` units at once (`MAITRE_CHAIN_CONCURRENCY`); a request over the share waits, first come first served
//! within the chain, for at most [`MAX_SHARE_WAIT`], and is then refused 429 with
//! `Retry-After`. The unit is held until the response's headers are ready (a stream's body,
//! such as `/v1/stream`, does not hold it).
//!
//! The shares are per replica: they bound what one replica spends on a tenant, as the rate
//! limits (`edge`) bound what a tenant may ask of all replicas together.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use http::{HeaderMap, header};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::errors::ApiError;

/// The body bytes one unit of a chain's share stands for.
pub const BYTES_PER_UNIT: u64 = 32 * 1024;
/// How long a request may wait for its chain's share before it is refused.
pub const MAX_SHARE_WAIT: Duration = Duration::from_secs(5);

/// The units each chain may hold on this replica.
#[derive(Debug)]
pub struct ChainShares {
    units_per_chain: u32,
    max_wait: Duration,
    chains: Mutex<HashMap<Arc<str>, Arc<Semaphore>>>,
}

/// A request's units of its chain's share, given back when dropped.
#[derive(Debug)]
pub struct Share {
    _permit: OwnedSemaphorePermit,
}

impl ChainShares {
    /// Shares of `units_per_chain` units (at least 1).
    pub fn new(units_per_chain: u32) -> Self {
        Self {
            units_per_chain: units_per_chain.max(1),
            max_wait: MAX_SHARE_WAIT,
            chains: Mutex::default(),
        }
    }

    /// The same shares, refusing after `max_wait` rather than [`MAX_SHARE_WAIT`].
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The units of a request with `headers`: one, plus one per [`BYTES_PER_UNIT`] of the
    /// declared body, at most a whole share (so any admitted request can run).
    pub fn cost(&self, headers: &HeaderMap) -> u32 {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let units = 1 + declared / BYTES_PER_UNIT;
        u32::try_from(units)
            .unwrap_or(u32::MAX)
            .min(self.units_per_chain)
    }

    fn semaphore(&self, chain: &str) -> Arc<Semaphore> {
        let mut chains = self.chains.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(semaphore) = chains.get(chain) {
            return Arc::clone(semaphore);
        }
        // Forget chains with nothing in flight before adding one, so the map holds only
        // the chains active now (chain ids come from verified tokens).
        if chains.len() >= 1024 {
            let full = self.units_per_chain as usize;
            chains.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < full);
        }
        let semaphore = Arc::new(Semaphore::new(self.units_per_chain as usize));
        chains.insert(Arc::from(chain), Arc::clone(&semaphore));
        semaphore
    }

    /// Takes `units` of `chain`'s share, waiting for them at most [`MAX_SHARE_WAIT`] (or
    /// what [`ChainShares::with_max_wait`] set).
    pub async fn enter(&self, chain: &str, units: u32) -> Result<Share, ApiError> {
        let semaphore = self.semaphore(chain);
        let units = units.clamp(1, self.units_per_chain);
        match tokio::time::timeout(self.max_wait, semaphore.acquire_many_owned(units)).await {
            Ok(Ok(permit)) => Ok(Share { _permit: permit }),
            // Never closed; refused like a full share if it were.
            Ok(Err(_)) | Err(_) => Err(ApiError::RateLimited {
                limit: "chain's requests in flight",
                retry_after: Duration::from_secs(1),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with_length(bytes: u64) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes));
        headers
    }

    #[test]
    fn a_request_costs_one_unit_plus_its_body() {
        let shares = ChainShares::new(32);
        assert_eq!(shares.cost(&HeaderMap::new()), 1);
        assert_eq!(shares.cost(&with_length(1000)), 1);
        assert_eq!(shares.cost(&with_length(300 * 1024)), 10);
        // Never more than a whole share.
        assert_eq!(shares.cost(&with_length(100 << 20)), 32);
    }

    #[tokio::test]
    async fn a_chain_over_its_share_waits_and_others_do_not() {
        let shares = ChainShares::new(4).with_max_wait(Duration::from_millis(50));
        let held = shares.enter("b", 4).await.unwrap();
        // Another chain is not affected by b's full share.
        let a = shares.enter("a", 4).await.unwrap();
        drop(a);
        // b's next request waits for b's own units, then is refused.
        let refused = shares.enter("b", 1).await.unwrap_err();
        assert!(
            matches!(refused, ApiError::RateLimited { .. }),
            "{refused:?}"
        );
        // A waiting request gets the units as soon as they are given back.
        let (waited, ()) = tokio::join!(shares.enter("b", 2), async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(held);
        });
        assert!(waited.is_ok());
    }
}
