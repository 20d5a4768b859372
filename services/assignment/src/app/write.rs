//! Writing one ownership change inside the caller's transaction: the conditional update of
//! the customer row (first, so a concurrent writer blocks or loses here), the receiving
//! manager's capacity where the rule guards it, the history lines with their explanations,
//! and the events — all committed together or not at all.

use maitre_proto::events::v1::{
    CustomerLocked, CustomerUnlocked, EventScope, OwnerChanged, event::Payload,
};
use sea_orm::DatabaseTransaction;

use super::Engine;
use crate::domain::explain::{Facts, explain};
use crate::domain::history::{HistoryEntry, HistoryReason};
use crate::domain::roster::ManagerStatus;
use crate::error::Error;
use crate::storage::customers::{self, CustomerRow};
use crate::storage::decisions::{self, DecisionRow};
use crate::storage::managers;

/// Who and what caused a change, for the history and the events.
#[derive(Debug, Clone, Default)]
pub struct ChangeContext {
    /// A staff id, or "system".
    pub actor: String,
    pub source_event_id: String,
    pub note: String,
    pub facts: Facts,
    /// Store-local day/month buckets of an allocation (recorded on allocation lines).
    pub alloc_day: String,
    pub alloc_month: String,
    /// When set, the receiving manager's capacity is guarded in SQL and a full manager is
    /// a refusal naming this request field; when unset (allocations) it is a conflict to retry.
    pub capacity_field: Option<&'static str>,
    /// Last contact moves the customer whatever the capacity (seed 二: the guest chose).
    pub skip_capacity: bool,
    /// A change by hand (transfer, lock, unlock): who made it with what role, and the audit
    /// action recorded in the change's transaction (`kit::audit`).
    pub audit: Option<(maitre_kit::audit::Actor, &'static str)>,
}

/// One change: the row as read, the row to write, and the domain's history lines.
pub struct Change<'a> {
    pub before: &'a CustomerRow,
    pub after: CustomerRow,
    pub history: &'a [HistoryEntry],
    pub context: &'a ChangeContext,
}

fn is_allocation(reason: HistoryReason) -> bool {
    matches!(
        reason,
        HistoryReason::DailyEvenSplit
            | HistoryReason::MonthlyEvenSplit
            | HistoryReason::DailyRotation
    )
}

fn name(manager: &Option<crate::domain::ManagerId>) -> String {
    manager
        .as_ref()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default()
}

impl Engine {
    /// Writes `change` in `txn`; the row as stored (new version). `Conflict` when the row
    /// changed since it was read.
    pub async fn write_change(
        &self,
        txn: &DatabaseTransaction,
        chain_id: &str,
        change: Change<'_>,
    ) -> Result<CustomerRow, Error> {
        let Change {
            before,
            mut after,
            history,
            context,
        } = change;
        if !after.manager_id.is_empty() {
            // An owner ends the wait in the pool, whichever path gave them.
            after.pool_reason.clear();
        }
        if !customers::update_if_version(txn, chain_id, &after, before.version).await? {
            return Err(Error::Conflict {
                customer_id: before.customer_id.clone(),
            });
        }
        after.version = before.version + 1;
        self.guard_capacity(txn, chain_id, before, &after, context)
            .await?;
        let mut facts = context.facts.clone();
        facts.lock = facts.lock.or(after.lock);
        if facts.store_id.is_empty() {
            facts.store_id.clone_from(&after.store_id);
        }
        for entry in history {
            let decision_id = uuid::Uuid::now_v7().to_string();
            let allocation = is_allocation(entry.reason);
            decisions::append(
                txn,
                chain_id,
                &DecisionRow {
                    decision_id: decision_id.clone(),
                    customer_id: before.customer_id.clone(),
                    seq: 0,
                    from_manager_id: name(&entry.from),
                    to_manager_id: name(&entry.to),
                    reason: entry.reason.as_str().to_owned(),
                    actor: context.actor.clone(),
                    decided_at_us: entry.at.timestamp_micros(),
                    explanation: explain(entry, &facts, &context.actor),
                    note: context.note.clone(),
                    source_event_id: context.source_event_id.clone(),
                    locked_after: entry.locked_after,
                    store_id: facts.store_id.clone(),
                    alloc_day: if allocation {
                        context.alloc_day.clone()
                    } else {
                        String::new()
                    },
                    alloc_month: if allocation {
                        context.alloc_month.clone()
                    } else {
                        String::new()
                    },
                },
            )
            .await?;
            self.emit(
                txn,
                chain_id,
                &before.customer_id,
                &facts.store_id,
                entry,
                decision_id,
            )
            .await?;
        }
        Ok(after)
    }

    /// Guards the receiving manager's capacity where the rule needs it (owned counts are
    /// derived from the customer rows, so moves themselves touch no manager row).
    async fn guard_capacity(
        &self,
        txn: &DatabaseTransaction,
        chain_id: &str,
        before: &CustomerRow,
        after: &CustomerRow,
        context: &ChangeContext,
    ) -> Result<(), Error> {
        let manager_id = after.manager_id.as_str();
        if before.manager_id == after.manager_id || manager_id.is_empty() || context.skip_capacity {
            return Ok(());
        }
        if managers::has_room(txn, chain_id, manager_id).await? {
            return Ok(());
        }
        Err(match context.capacity_field {
            Some(field) => match managers::get(txn, chain_id, manager_id).await? {
                Some(row) if row.status == ManagerStatus::Left => Error::Rule {
                    field,
                    source: crate::domain::AssignmentError::ManagerLeft {
                        manager_id: manager_id.into(),
                    },
                },
                Some(row) => Error::Rule {
                    field,
                    source: crate::domain::AssignmentError::ManagerAtCapacity {
                        manager_id: manager_id.into(),
                        max_customers: u64::try_from(row.capacity).unwrap_or(0),
                    },
                },
                None => Error::not_found("manager", manager_id),
            },
            None => Error::Conflict {
                customer_id: after.customer_id.clone(),
            },
        })
    }

    async fn emit(
        &self,
        txn: &DatabaseTransaction,
        chain_id: &str,
        customer_id: &str,
        store_id: &str,
        entry: &HistoryEntry,
        decision_id: String,
    ) -> Result<(), Error> {
        let from = name(&entry.from);
        let to = name(&entry.to);
        let scope = EventScope {
            customer_id: customer_id.to_owned(),
            store_id: store_id.to_owned(),
            manager_id: if to.is_empty() {
                from.clone()
            } else {
                to.clone()
            },
        };
        let payload = match entry.reason {
            HistoryReason::ValueLock | HistoryReason::ManualLock if from == to => {
                Payload::CustomerLocked(CustomerLocked {
                    customer_id: customer_id.to_owned(),
                    manager_id: to,
                    reason: if entry.reason == HistoryReason::ValueLock {
                        "value_lock".to_owned()
                    } else {
                        "manual".to_owned()
                    },
                })
            }
            HistoryReason::Unlock | HistoryReason::Expiry if from == to => {
                Payload::CustomerUnlocked(CustomerUnlocked {
                    customer_id: customer_id.to_owned(),
                    manager_id: to,
                    reason: entry.reason.as_str().to_owned(),
                })
            }
            _ if from == to => return Ok(()),
            reason => Payload::OwnerChanged(OwnerChanged {
                customer_id: customer_id.to_owned(),
                from_manager_id: from,
                to_manager_id: to,
                reason: reason.as_str().to_owned(),
                decision_id,
            }),
        };
        self.runtime
            .events
            .append(txn, chain_id, scope, payload)
            .await?;
        Ok(())
    }
}
