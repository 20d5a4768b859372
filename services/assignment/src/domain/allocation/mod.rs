//! Allocation of customers who have no contact manager (online channels, walk-ins, released
//! customers) by the store's strategy (seed 二): 按天均分, 按月均分, 按天轮换. Pure: the
//! caller passes the roster and the owned-customer counts (capacity). This module owns who
//! may be picked and 按天轮换; the even splits themselves are balance picks
//! (`app::allocate`), the one implementation every path runs.
//!
//! Fairness rules (issue): ties are broken by rotation, never by creation order; joining or
//! leaving mid-day changes only who is a candidate, never anyone's counts; when nobody eligible has room the customer waits in the unassigned pool
//! ([`Allocation::Unassigned`]) — a decision, not an error.

use chrono::{Datelike, NaiveDate};

use crate::domain::error::AssignmentError;
use crate::domain::history::HistoryReason;
use crate::domain::ids::{ManagerId, StoreId};
use crate::domain::roster::{Eligibility, ManagerStatus, Roster, Tally, tally_of};

#[cfg(test)]
mod props;
#[cfg(test)]
pub(crate) mod tests;

/// The result of running a store's strategy for one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allocation {
    Assigned {
        manager_id: ManagerId,
        reason: HistoryReason,
    },
    /// Nobody can take the customer now; they wait in the store's unassigned pool.
    Unassigned { reason: PoolReason },
}

/// Why a customer waits in the unassigned pool (stored with the customer and shown with
/// the pool, so a store manager knows what to fix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolReason {
    /// Every manager of the store is off duty.
    NoneOnDuty,
    /// Everyone on duty is at capacity.
    AllAtCapacity,
    /// The store has no managers at all (none who has not left).
    NoManagersAtStore,
    /// The contact named a manager id the chain's roster does not know.
    UnknownContactManager,
}

impl PoolReason {
    /// The stored (and API) name of the reason; never rename one.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolReason::NoneOnDuty => "none_on_duty",
            PoolReason::AllAtCapacity => "all_at_capacity",
            PoolReason::NoManagersAtStore => "no_managers_at_store",
            PoolReason::UnknownContactManager => "unknown_contact_manager",
        }
    }

    /// What a store manager reads in the history.
    pub fn describe(self) -> &'static str {
        match self {
            PoolReason::NoneOnDuty => "no manager of the store is on duty",
            PoolReason::AllAtCapacity => "every on-duty manager of the store is at capacity",
            PoolReason::NoManagersAtStore => "the store has no managers",
            PoolReason::UnknownContactManager => {
                "the contact named a manager the roster does not know"
            }
        }
    }
}

/// What every strategy needs about the store right now.
#[derive(Debug, Clone, Copy)]
pub struct StoreAllocation<'a> {
    pub store_id: &'a StoreId,
    pub roster: &'a Roster,
    /// Customers each manager owns now (for capacity).
    pub owned_customers: &'a Tally,
    /// The store's rotation counter: advances with every allocation, never reset.
    pub tie_offset: u64,
}

/// The eligible managers in roster order, or why there are none (the pool), or the
/// configuration error of a store without members. Public so the service can run the
/// even splits as one atomic balance pick across replicas with the same candidates.
pub fn eligible_or_pool(
    request: &StoreAllocation<'_>,
) -> Result<Result<Vec<ManagerId>, PoolReason>, AssignmentError> {
    let mut members = request.roster.store_members(request.store_id).peekable();
    if members.peek().is_none() {
        return Err(AssignmentError::NoEligibleManagers {
            store_id: request.store_id.clone(),
        });
    }
    let anyone_on_duty = members.any(|m| m.status == ManagerStatus::OnDuty);
    let eligible = request
        .roster
        .eligible_for_allocation(request.store_id, request.owned_customers);
    Ok(match (eligible.is_empty(), anyone_on_duty) {
        (false, _) => Ok(eligible),
        (true, true) => Err(PoolReason::AllAtCapacity),
        (true, false) => Err(PoolReason::NoneOnDuty),
    })
}

/// Day number used by the rotation; consecutive dates give consecutive numbers.
fn rotation_day_number(store_local_date: NaiveDate) -> i64 {
    i64::from(store_local_date.num_days_from_ce())
}

/// 按天轮换: the nominal duty manager of the day — the store's members who have not left
/// (on duty or not) in roster order, indexed by the store-local date, so each member is on
/// duty once every `members` days. `None` when the store has no members.
pub fn daily_rotation_duty(
    roster: &Roster,
    store_id: &StoreId,
    store_local_date: NaiveDate,
) -> Option<ManagerId> {
    let members: Vec<&ManagerId> = roster.store_members(store_id).map(|m| &m.id).collect();
    let len = i64::try_from(members.len()).ok().filter(|len| *len > 0)?;
    let index = usize::try_from(rotation_day_number(store_local_date).rem_euclid(len)).ok()?;
    members.get(index).map(|id| (*id).clone())
}

/// 按天轮换 allocation: the duty manager takes every customer of the day; if they are off
/// duty or full, the next member in roster order (cyclic) who is eligible takes it, so the
/// day still has one deterministic receiver and the rotation of later days is unchanged.
pub fn allocate_daily_rotation(
    request: &StoreAllocation<'_>,
    store_local_date: NaiveDate,
) -> Result<Allocation, AssignmentError> {
    if let Err(reason) = eligible_or_pool(request)? {
        return Ok(Allocation::Unassigned { reason });
    }
    let members: Vec<_> = request.roster.store_members(request.store_id).collect();
    let len = members.len();
    let start = daily_rotation_duty(request.roster, request.store_id, store_local_date)
        .and_then(|duty| members.iter().position(|m| m.id == duty))
        .unwrap_or(0);
    let receiver = (0..len)
        .map(|step| members[(start + step) % len])
        .find(|m| {
            m.allocation_eligibility(request.store_id, tally_of(request.owned_customers, &m.id))
                == Eligibility::Eligible
        });
    Ok(match receiver {
        Some(manager) => Allocation::Assigned {
            manager_id: manager.id.clone(),
            reason: HistoryReason::DailyRotation,
        },
        None => Allocation::Unassigned {
            reason: PoolReason::AllAtCapacity,
        },
    })
}
