//! The service's use cases over storage, coordination and the pure domain: everything a
//! handler calls after it has decoded and authorised a request. One [`Engine`] per process.
//!
//! Concurrency design (two replicas deciding for one customer at once end with one owner):
//! 1. decisions on one customer queue: the contact path locks the customer's row in its
//!    transaction, the other paths (transfers, locks, allocation from the pool) take a
//!    coordination lock per customer (with a fence) while Redis is up, so conflicts are rare;
//! 2. every change is an UPDATE conditional on the customer row's version that was read
//!    ([`crate::storage::customers::update_if_version`]): correctness never depends on Redis
//!    alone — a lost lock, a flush, or two embedded instances only cause a retry;
//! 3. the owner cache is deleted before and republished (never older) after each change.

mod allocate;
mod bulk;
mod contact;
mod contact_run;
mod expiry;
mod lock_review;
mod manual;
mod merge;
mod write;

use std::sync::Arc;
use std::time::Duration;

use maitre_kit::coord::Fence;
use maitre_kit::runtime::Runtime;

pub use allocate::Allocated;
pub use bulk::progress;
pub use contact::{ContactInput, ContactOutcome};
pub use write::{Change, ChangeContext};

use crate::convert::{default_fields, fields_to_spec};
use crate::domain::policy::AssignmentPolicy;
use crate::error::Error;
use crate::storage::cache::{EffectivePolicy, PolicyCache};
use crate::storage::policies;

/// How long the per-customer coordination lock is held at most.
const CUSTOMER_LOCK_TTL: Duration = Duration::from_secs(5);
/// How long a decision waits for the customer lock before relying on the SQL guard alone.
const CUSTOMER_LOCK_WAIT: Duration = Duration::from_secs(2);
/// Attempts of one decision when concurrent changes keep winning the conditional update.
const MAX_ATTEMPTS: usize = 20;

/// The use cases, shared by every handler of the process.
pub struct Engine {
    pub runtime: Runtime,
    policies: PolicyCache,
}

impl Engine {
    pub fn new(runtime: Runtime) -> Arc<Self> {
        Arc::new(Self {
            runtime,
            policies: PolicyCache::default(),
        })
    }

    /// The effective policy of a store (or of the chain for `store_id = ""`).
    pub async fn effective_policy(
        &self,
        chain_id: &str,
        store_id: &str,
    ) -> Result<Arc<EffectivePolicy>, Error> {
        if let Some(policy) = self.policies.get(chain_id, store_id) {
            return Ok(policy);
        }
        let db = &self.runtime.db;
        let mut fields = default_fields().overlaid(&policies::get(db, chain_id, "").await?);
        if !store_id.is_empty() {
            fields = fields.overlaid(&policies::get(db, chain_id, store_id).await?);
        }
        let rules =
            AssignmentPolicy::try_from(fields_to_spec(&fields)?).map_err(Error::rule("policy"))?;
        let policy = Arc::new(EffectivePolicy { fields, rules });
        self.policies.put(chain_id, store_id, policy.clone());
        Ok(policy)
    }

    /// Forgets this replica's cached policies of a chain (after an update).
    pub fn forget_policies(&self, chain_id: &str) {
        self.policies.forget_chain(chain_id);
    }

    /// Takes the customer's coordination lock, waiting a little; `None` when it could not
    /// be had (held too long, or coordination down): the SQL guard still protects.
    async fn lock_customer(&self, chain_id: &str, customer_id: &str) -> Option<Fence> {
        let key = format!("customer:{chain_id}:{customer_id}");
        let deadline = tokio::time::Instant::now() + CUSTOMER_LOCK_WAIT;
        let mut pause = Duration::from_millis(2);
        loop {
            match self.runtime.coord.lock(&key, CUSTOMER_LOCK_TTL).await {
                Ok(Some(fence)) => return Some(fence),
                Ok(None) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Ok(None) => return None,
                Err(error) => {
                    tracing::warn!(%error, "customer lock unavailable; relying on the SQL guard");
                    return None;
                }
            }
        }
    }

    async fn unlock_customer(&self, chain_id: &str, customer_id: &str, fence: Option<Fence>) {
        if let Some(fence) = fence {
            let key = format!("customer:{chain_id}:{customer_id}");
            if let Err(error) = self.runtime.coord.unlock(&key, fence).await {
                tracing::debug!(%error, "customer unlock failed; the lock expires by itself");
            }
        }
    }
}

/// Runs `attempt` until it does not end in a conflict (another replica's concurrent
/// change, a PostgreSQL deadlock victim, SQLite busy), at most [`MAX_ATTEMPTS`] times.
async fn retry_conflicts<T, F, Fut>(mut attempt: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut last = None;
    for round in 0..MAX_ATTEMPTS {
        match attempt().await {
            Err(error @ Error::Conflict { .. }) | Err(error @ Error::Db(_)) => {
                tracing::debug!(%error, round, "retrying a decision after a concurrent change");
                last = Some(error);
                let jitter = u64::try_from(round).unwrap_or(0) * 3 + 1;
                tokio::time::sleep(Duration::from_millis(jitter)).await;
            }
            other => return other,
        }
    }
    Err(last.unwrap_or(Error::Conflict {
        customer_id: String::new(),
    }))
}
