//! Transfers (seed 四): one customer to a named manager, and the one-click bulk transfer of
//! a departing manager's customers — to one manager or spread evenly over chosen managers.
//! The bulk plan is deterministic (same inputs, same plan), so the service can persist it
//! once and execute it in resumable batches. Value locks move with the customer.

use chrono::{DateTime, Utc};

use crate::domain::error::AssignmentError;
use crate::domain::history::HistoryReason;
use crate::domain::ids::{CustomerId, ManagerId};
use crate::domain::ownership::{Decision, OwnerState};
use crate::domain::pick::{Ceiling, pick_even};
use crate::domain::roster::{Manager, ManagerStatus, Roster, Tally, tally_of};

#[cfg(test)]
mod tests;

/// What a single transfer does to a value lock. Locks normally move with the customer;
/// `Release` is the explicit "transfer and unlock" of seed 二 (unlock by transfer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LockOnTransfer {
    #[default]
    MoveWithCustomer,
    Release,
}

/// Moves one customer to `target`. The target must not have left and must have room (off
/// duty is fine: they keep customers while absent). Transferring to the current owner is a
/// no-op decision, so a retried request changes nothing.
pub fn transfer_customer(
    state: &OwnerState,
    target: &Manager,
    target_owned_customers: u64,
    lock_handling: LockOnTransfer,
    now: DateTime<Utc>,
) -> Result<Decision, AssignmentError> {
    let mut decision = Decision::start(state);
    if state.owner.as_ref() == Some(&target.id) {
        return Ok(decision);
    }
    target.check_can_receive(target_owned_customers)?;
    if lock_handling == LockOnTransfer::Release {
        decision.release_lock(HistoryReason::Unlock, now);
    }
    decision.move_to(&target.id, HistoryReason::Transfer, now);
    Ok(decision)
}

/// Where a departing manager's customers go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkTargets {
    ToOne(ManagerId),
    /// Spread evenly over these managers (order irrelevant; roster order is used).
    SpreadEvenly(Vec<ManagerId>),
}

#[derive(Debug, Clone, Copy)]
pub struct BulkTransferRequest<'a> {
    pub from: &'a ManagerId,
    pub customers: &'a [CustomerId],
    pub targets: &'a BulkTargets,
    pub roster: &'a Roster,
    /// Customers each target owns before the transfer (for capacity).
    pub owned_customers: &'a Tally,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedMove {
    pub customer_id: CustomerId,
    pub to: ManagerId,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkTransferPlan {
    /// One move per distinct customer, in ascending customer id.
    pub moves: Vec<PlannedMove>,
}

impl BulkTransferPlan {
    /// How many customers each target receives.
    pub fn received(&self) -> Tally {
        let mut received = Tally::new();
        for planned in &self.moves {
            *received.entry(planned.to.clone()).or_insert(0) += 1;
        }
        received
    }
}

/// Checks one chosen target and returns its free capacity (`None` = unlimited).
fn validated_target(
    request: &BulkTransferRequest<'_>,
    target_id: &ManagerId,
) -> Result<Option<u64>, AssignmentError> {
    if target_id == request.from {
        return Err(AssignmentError::TransferToSameManager {
            manager_id: target_id.clone(),
        });
    }
    let target = request.roster.require(target_id)?;
    if target.status == ManagerStatus::Left {
        return Err(AssignmentError::ManagerLeft {
            manager_id: target_id.clone(),
        });
    }
    let free = target.free_capacity(tally_of(request.owned_customers, target_id));
    match (free, target.max_customers) {
        (Some(0), Some(max_customers)) => Err(AssignmentError::ManagerAtCapacity {
            manager_id: target_id.clone(),
            max_customers,
        }),
        _ => Ok(free),
    }
}

/// The error when the targets cannot take every customer: for a single target name that
/// manager, for a spread the totals.
fn capacity_error(
    request: &BulkTransferRequest<'_>,
    customers: u64,
    free_capacity: u64,
) -> AssignmentError {
    let single = match request.targets {
        BulkTargets::ToOne(manager_id) => request.roster.get(manager_id),
        BulkTargets::SpreadEvenly(_) => None,
    };
    match single.and_then(|m| m.max_customers.map(|max| (m, max))) {
        Some((manager, max_customers)) => AssignmentError::ManagerAtCapacity {
            manager_id: manager.id.clone(),
            max_customers,
        },
        None => AssignmentError::InsufficientCapacity {
            customers,
            free_capacity,
        },
    }
}

/// Plans a bulk transfer: every customer once, each target within its free capacity, and
/// received counts within one of each other except where a target is full. Customers are
/// taken in ascending id and placed by the balance pick over "received so far" with a
/// rotating tie offset, so the plan is deterministic and evenly spread.
pub fn plan_bulk_transfer(
    request: &BulkTransferRequest<'_>,
) -> Result<BulkTransferPlan, AssignmentError> {
    let mut targets: Vec<ManagerId> = match request.targets {
        BulkTargets::ToOne(target) => vec![target.clone()],
        BulkTargets::SpreadEvenly(targets) => targets.clone(),
    };
    targets.sort();
    targets.dedup();
    if targets.is_empty() {
        return Err(AssignmentError::NoTransferTargets { field: "targets" });
    }
    let mut limits = Tally::new();
    let mut unlimited = false;
    for target in &targets {
        match validated_target(request, target)? {
            Some(free) => {
                limits.insert(target.clone(), free);
            }
            None => unlimited = true,
        }
    }
    let mut customers: Vec<CustomerId> = request.customers.to_vec();
    customers.sort();
    customers.dedup();
    let needed = u64::try_from(customers.len()).unwrap_or(u64::MAX);
    let free_capacity = limits
        .values()
        .fold(0_u64, |sum, free| sum.saturating_add(*free));
    if !unlimited && free_capacity < needed {
        return Err(capacity_error(request, needed, free_capacity));
    }
    let mut received = Tally::new();
    let mut moves = Vec::with_capacity(customers.len());
    for (tie_offset, customer_id) in (0_u64..).zip(customers) {
        let ceiling = Ceiling {
            counts: &received,
            limits: &limits,
        };
        let to = pick_even(&received, &targets, tie_offset, Some(ceiling))
            .and_then(|index| targets.get(index))
            .cloned()
            .ok_or_else(|| capacity_error(request, needed, free_capacity))?;
        *received.entry(to.clone()).or_insert(0) += 1;
        moves.push(PlannedMove { customer_id, to });
    }
    Ok(BulkTransferPlan { moves })
}

/// Applies one planned move to the customer's stored state; the lock moves with them.
pub fn apply_planned_move(
    state: &OwnerState,
    planned: &PlannedMove,
    now: DateTime<Utc>,
) -> Decision {
    let mut decision = Decision::start(state);
    decision.move_to(&planned.to, HistoryReason::BulkTransfer, now);
    decision
}
