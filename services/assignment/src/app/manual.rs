//! Changes staff make by hand — transfer, lock, unlock — and the allocation of customers
//! waiting in the unassigned pool once capacity returns. Each reads the row, asks the
//! domain, and writes the change conditionally on the version read (retrying on conflict).

use chrono::{DateTime, Utc};

use super::{Allocated, Change, ChangeContext, Engine, retry_conflicts};
use crate::convert::ownership_to_proto;
use crate::domain::HistoryReason;
use crate::domain::ownership::{
    Decision, PendingAllocation, assign_allocated, lock_manually, unlock_manually,
};
use crate::domain::transfer::{LockOnTransfer, transfer_customer};
use crate::domain::{AssignmentError, ManagerId};
use crate::error::Error;
use crate::storage::cache;
use crate::storage::customers::{self, CustomerRow};
use crate::storage::managers;

/// How many pool customers one drain allocates at most per store (the rest wait for the
/// next contact or roster change).
const POOL_DRAIN_LIMIT: u64 = 500;

/// What happened to one customer of the pool.
enum Waiting {
    Allocated,
    PlacedMeanwhile,
    NoRoom,
}

impl Engine {
    /// Reads the customer, lets `decide` produce the domain decision (`None`: nothing to
    /// do) and writes it. Returns the row after and whether anything changed.
    pub async fn change_customer<F>(
        &self,
        chain_id: &str,
        customer_id: &str,
        context: &ChangeContext,
        now: DateTime<Utc>,
        decide: F,
    ) -> Result<(CustomerRow, bool), Error>
    where
        F: Fn(&CustomerRow) -> Result<Option<Decision>, Error>,
    {
        retry_conflicts(|| async {
            let fence = self.lock_customer(chain_id, customer_id).await;
            let coord = self.runtime.coord.as_ref();
            cache::forget_owner(coord, chain_id, customer_id).await;
            let result = async {
                let row = customers::get(&self.runtime.db, chain_id, customer_id)
                    .await?
                    .ok_or_else(|| Error::not_found("customer", customer_id))?;
                let decision = match decide(&row)? {
                    Some(decision) if !decision.history.is_empty() => decision,
                    _ => return Ok((row, false)),
                };
                let mut after = row.clone();
                after.set_state(&decision.next);
                if let Some(last) = decision.history.last() {
                    after.reason = last.reason.as_str().to_owned();
                }
                if after.manager_id != row.manager_id {
                    after.since_us = now.timestamp_micros();
                }
                let txn = maitre_kit::db::begin_write(&self.runtime.db).await?;
                let change = Change {
                    before: &row,
                    after,
                    history: &decision.history,
                    context,
                };
                let written = self.write_change(&txn, chain_id, change).await?;
                if let Some((actor, action)) = &context.audit {
                    maitre_kit::audit::record(
                        &txn,
                        actor,
                        chain_id,
                        maitre_kit::audit::Change {
                            action,
                            target_type: "customer",
                            target_id: customer_id,
                            before: maitre_kit::audit::json_of(&ownership_to_proto(&row)),
                            after: maitre_kit::audit::json_of(&ownership_to_proto(&written)),
                        },
                    )
                    .await?;
                }
                txn.commit().await?;
                self.runtime.events.committed();
                Ok((written, true))
            }
            .await;
            match &result {
                Ok((row, _)) => cache::publish_owner(coord, chain_id, row).await,
                Err(_) => cache::forget_owner(coord, chain_id, customer_id).await,
            }
            self.unlock_customer(chain_id, customer_id, fence).await;
            result
        })
        .await
    }

    /// Transfers one customer to `to_manager_id`; a lock moves with the customer.
    pub async fn transfer(
        &self,
        chain_id: &str,
        customer_id: &str,
        to_manager_id: &str,
        context: ChangeContext,
    ) -> Result<CustomerRow, Error> {
        let target = managers::get(&self.runtime.db, chain_id, to_manager_id)
            .await?
            .ok_or_else(|| Error::Rule {
                field: "to_manager_id",
                source: AssignmentError::UnknownManager {
                    manager_id: ManagerId::new(to_manager_id),
                },
            })?;
        let now = Utc::now();
        let context = ChangeContext {
            capacity_field: Some("to_manager_id"),
            ..context
        };
        let (row, _) = self
            .change_customer(chain_id, customer_id, &context, now, |row| {
                transfer_customer(
                    &row.state(),
                    &target.to_domain(),
                    target.owned(),
                    LockOnTransfer::MoveWithCustomer,
                    now,
                )
                .map(Some)
                .map_err(Error::rule("to_manager_id"))
            })
            .await?;
        Ok(row)
    }

    /// Locks the customer to the current owner by hand.
    pub async fn lock(
        &self,
        chain_id: &str,
        customer_id: &str,
        context: ChangeContext,
    ) -> Result<CustomerRow, Error> {
        let now = Utc::now();
        let (row, _) = self
            .change_customer(chain_id, customer_id, &context, now, |row| {
                lock_manually(&row.state(), now).map(Some).ok_or_else(|| {
                    Error::precondition("customer_id", "the customer has no owner to lock to")
                })
            })
            .await?;
        Ok(row)
    }

    /// Lifts the customer's lock; the owner stays.
    pub async fn unlock(
        &self,
        chain_id: &str,
        customer_id: &str,
        context: ChangeContext,
    ) -> Result<CustomerRow, Error> {
        let now = Utc::now();
        let (row, _) = self
            .change_customer(chain_id, customer_id, &context, now, |row| {
                Ok(Some(unlock_manually(&row.state(), now)))
            })
            .await?;
        Ok(row)
    }

    /// Allocates waiting customers of the stores while someone has room (after a manager
    /// comes on duty, joins or gains capacity). Returns how many were allocated.
    pub async fn drain_pool(&self, chain_id: &str, store_ids: &[String]) -> Result<u64, Error> {
        let mut allocated = 0;
        for store_id in store_ids {
            let waiting = customers::pool(
                &self.runtime.db,
                chain_id,
                Some(store_id),
                "",
                POOL_DRAIN_LIMIT,
            )
            .await?;
            for customer in waiting {
                match self
                    .allocate_waiting(chain_id, &customer.customer_id)
                    .await?
                {
                    Waiting::Allocated => allocated += 1,
                    Waiting::PlacedMeanwhile => {}
                    Waiting::NoRoom => break,
                }
            }
        }
        Ok(allocated)
    }

    /// Allocates one pool customer.
    async fn allocate_waiting(&self, chain_id: &str, customer_id: &str) -> Result<Waiting, Error> {
        retry_conflicts(|| async {
            let fence = self.lock_customer(chain_id, customer_id).await;
            let coord = self.runtime.coord.as_ref();
            cache::forget_owner(coord, chain_id, customer_id).await;
            let result = self.try_allocate_waiting(chain_id, customer_id).await;
            if let Ok((Waiting::Allocated, Some(row))) = &result {
                cache::publish_owner(coord, chain_id, row).await;
            }
            self.unlock_customer(chain_id, customer_id, fence).await;
            result.map(|(waiting, _)| waiting)
        })
        .await
    }

    async fn try_allocate_waiting(
        &self,
        chain_id: &str,
        customer_id: &str,
    ) -> Result<(Waiting, Option<CustomerRow>), Error> {
        let db = &self.runtime.db;
        let Some(row) = customers::get(db, chain_id, customer_id).await? else {
            return Ok((Waiting::PlacedMeanwhile, None));
        };
        if !row.manager_id.is_empty() || row.reason != HistoryReason::Unassigned.as_str() {
            return Ok((Waiting::PlacedMeanwhile, None)); // a contact or another replica did it
        }
        let policy = self.effective_policy(chain_id, &row.store_id).await?;
        let now = Utc::now();
        // The pick and its write in one transaction: a re-seed of the balances waits for it
        // (see `allocate`).
        let txn = maitre_kit::db::begin_write(db).await?;
        let allocated = self
            .allocate(&txn, chain_id, &row.store_id, now, &policy)
            .await?;
        let Allocated::Manager {
            manager_id,
            reason,
            day,
            month,
            ..
        } = &allocated
        else {
            txn.rollback().await?;
            return Ok((Waiting::NoRoom, None));
        };
        let pending = PendingAllocation {
            lock_on_assign: None,
        };
        let decision = assign_allocated(&row.state(), manager_id, *reason, &pending, now);
        let mut after = row.clone();
        after.set_state(&decision.next);
        after.reason = reason.as_str().to_owned();
        after.since_us = now.timestamp_micros();
        let context = ChangeContext {
            actor: "system".to_owned(),
            alloc_day: day.clone(),
            alloc_month: month.clone(),
            ..Default::default()
        };
        let written = async {
            let change = Change {
                before: &row,
                after,
                history: &decision.history,
                context: &context,
            };
            let written = self.write_change(&txn, chain_id, change).await?;
            txn.commit().await?;
            Ok::<_, Error>(written)
        }
        .await;
        match written {
            Ok(row) => {
                self.runtime.events.committed();
                Ok((Waiting::Allocated, Some(row)))
            }
            Err(error) => {
                self.uncount(&allocated).await;
                Err(error)
            }
        }
    }
}
