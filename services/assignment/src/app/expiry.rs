//! The scheduled lock-expiry sweep (seed 二: a value lock ends after a configured time
//! without a visit). Contacts already release a due lock when the guest comes back; the
//! sweep releases the locks of guests who never do, so lists, stats and the manager's
//! "locked" count stay true. One replica sweeps at a time, under a leader lease
//! (`crate::jobs`).

use chrono::{DateTime, Utc};

use super::{ChangeContext, Engine};
use crate::domain::explain::Facts;
use crate::domain::ownership::expire_lock_if_due;
use crate::error::Error;
use crate::storage::customers;

/// Locked customers read per page.
const PAGE: u64 = 500;

impl Engine {
    /// Releases every lock whose expiry has passed at `now`; returns how many.
    pub async fn expire_due_locks(&self, now: DateTime<Utc>) -> Result<u64, Error> {
        let (mut chain_after, mut customer_after) = (String::new(), String::new());
        let mut released = 0;
        loop {
            let page =
                customers::locked_after(&self.runtime.db, &chain_after, &customer_after, PAGE)
                    .await?;
            let Some((chain_id, last)) = page.last() else {
                return Ok(released);
            };
            (chain_after, customer_after) = (chain_id.clone(), last.customer_id.clone());
            for (chain_id, row) in &page {
                let policy = self.effective_policy(chain_id, &row.store_id).await?;
                let rules = &policy.rules;
                let due = expire_lock_if_due(&row.state(), row.last_visit_at(), rules, now);
                if due.history.is_empty() {
                    continue;
                }
                let context = ChangeContext {
                    actor: "system".to_owned(),
                    facts: Facts {
                        store_id: row.store_id.clone(),
                        expiry_days: rules.value_lock().and_then(|l| l.expiry_days()),
                        ..Facts::default()
                    },
                    ..ChangeContext::default()
                };
                // Decided again on the row as locked for writing: a visit meanwhile wins.
                let (_, changed) = self
                    .change_customer(chain_id, &row.customer_id, &context, now, |current| {
                        Ok(Some(expire_lock_if_due(
                            &current.state(),
                            current.last_visit_at(),
                            rules,
                            now,
                        )))
                    })
                    .await?;
                released += u64::from(changed);
            }
        }
    }
}
