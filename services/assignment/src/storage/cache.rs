//! Caches in front of the database, never instead of it.
//!
//! - The owner cache (coordination, shared by replicas): `owner:<chain>:<customer>` holds the
//!   customer's row as JSON with its version. It lets `AssignOnContact` answer the common
//!   case — the owner does not change — with ONE Redis round trip and no database write.
//!   Writers delete the entry before their transaction and publish the new row after the
//!   commit; a publish never replaces a newer version, so replicas racing to publish, or a
//!   reader filling a miss from an older read, cannot leave an older row behind for long
//!   (entries also expire). Losing the cache (Redis flush) only costs a database read.
//! - The policy cache (in process): effective policies per store for a few seconds, so the
//!   fast path needs no database read either. Updates on this replica clear it at once;
//!   other replicas see a change within [`POLICY_TTL`].

use std::sync::Arc;
use std::time::Duration;

use maitre_kit::coord::Coordination;
use maitre_kit::ttl_map::TtlMap;

use crate::domain::policy::AssignmentPolicy;
use crate::storage::customers::CustomerRow;
use crate::storage::policies::PolicyFields;

/// How long a cached owner row lives without being refreshed.
const OWNER_TTL: Duration = Duration::from_secs(3600);
/// How long a replica trusts its copy of a policy.
pub const POLICY_TTL: Duration = Duration::from_secs(2);

fn owner_key(chain_id: &str, customer_id: &str) -> String {
    format!("owner:{chain_id}:{customer_id}")
}

/// The cached row, if any (errors and undecodable entries count as a miss).
pub async fn cached_owner(
    coord: &dyn Coordination,
    chain_id: &str,
    customer_id: &str,
) -> Option<CustomerRow> {
    match coord.get(&owner_key(chain_id, customer_id)).await {
        Ok(Some(json)) => serde_json::from_str(&json).ok(),
        Ok(None) => None,
        Err(error) => {
            tracing::debug!(%error, "owner cache unavailable");
            None
        }
    }
}

/// Drops the cached row (before a change is written).
pub async fn forget_owner(coord: &dyn Coordination, chain_id: &str, customer_id: &str) {
    if let Err(error) = coord.delete(&owner_key(chain_id, customer_id)).await {
        tracing::debug!(%error, "owner cache unavailable");
    }
}

/// Publishes `row` unless the cache already holds the same or a newer version.
pub async fn publish_owner(coord: &dyn Coordination, chain_id: &str, row: &CustomerRow) {
    let key = owner_key(chain_id, &row.customer_id);
    let Ok(json) = serde_json::to_string(row) else {
        return;
    };
    // The usual case — a writer that deleted the entry, a reader filling a miss — finds no
    // entry: one round trip.
    match coord
        .compare_and_set(&key, None, Some(&json), Some(OWNER_TTL))
        .await
    {
        Ok(true) | Err(_) => return,
        Ok(false) => {}
    }
    for _ in 0..3 {
        let current = match coord.get(&key).await {
            Ok(current) => current,
            Err(_) => return,
        };
        if let Some(current_json) = &current {
            let newer = serde_json::from_str::<CustomerRow>(current_json)
                .is_ok_and(|cached| cached.version >= row.version);
            if newer {
                return;
            }
        }
        match coord
            .compare_and_set(&key, current.as_deref(), Some(&json), Some(OWNER_TTL))
            .await
        {
            Ok(true) | Err(_) => return,
            Ok(false) => continue,
        }
    }
}

/// The effective policy of one store: the stored fields and the validated rules.
#[derive(Debug)]
pub struct EffectivePolicy {
    pub fields: PolicyFields,
    pub rules: AssignmentPolicy,
}

/// Per-replica cache of effective policies, per (chain, store).
#[derive(Default)]
pub struct PolicyCache {
    entries: TtlMap<(String, String), Arc<EffectivePolicy>>,
}

impl PolicyCache {
    pub fn get(&self, chain_id: &str, store_id: &str) -> Option<Arc<EffectivePolicy>> {
        self.entries
            .get(&(chain_id.to_owned(), store_id.to_owned()))
    }

    pub fn put(&self, chain_id: &str, store_id: &str, policy: Arc<EffectivePolicy>) {
        self.entries.insert(
            (chain_id.to_owned(), store_id.to_owned()),
            policy,
            POLICY_TTL,
        );
    }

    /// Forgets every policy of the chain (after an update on this replica).
    pub fn forget_chain(&self, chain_id: &str) {
        self.entries.retain(|(chain, _)| chain != chain_id);
    }
}
