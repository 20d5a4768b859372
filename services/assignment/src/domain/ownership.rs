//! Who owns a customer after a contact (a booking or visit through a manager): 最后接触
//! (last contact) unless a value lock holds, plus the lock's expiry and manual unlock
//! (seed 二). Returns a [`Decision`] — the next state, the history lines to record and
//! whether the store's strategy must allocate — and never writes anything itself.
//!
//! Fast path: when neither the owner nor the lock changes the decision has no history and
//! no pending allocation ([`Decision::is_fast_path`]): the service writes nothing, which is
//! the common case of a regular guest booking with their own manager.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::history::{HistoryEntry, HistoryReason};
use crate::domain::ids::ManagerId;
use crate::domain::policy::AssignmentPolicy;
use crate::domain::value_lock::{LockGrant, ValueLock, lock_expiry_due, value_lock_on_contact};

/// A customer's ownership as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerState {
    pub owner: Option<ManagerId>,
    pub lock: Option<ValueLock>,
}

impl OwnerState {
    pub fn is_locked(&self) -> bool {
        self.lock.is_some()
    }
}

/// What the service knows about one contact of the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The manager the booking was made with; `None` for online channels and walk-ins.
    /// Pass it through `Roster::contact_manager` so a departed manager never counts.
    pub via_manager: Option<ManagerId>,
    /// Counted spend (policy window, see `value_lock::counted_spend_fen`) before and after
    /// this contact; equal for a booking without payment.
    pub spend_before_fen: i64,
    pub spend_after_fen: i64,
    /// The customer's last visit before this contact (for lock expiry).
    pub last_visit_at: Option<DateTime<Utc>>,
}

/// The store's strategy must pick an owner; if `lock_on_assign` is set the contact crossed
/// the value threshold and the allocated manager gets that lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAllocation {
    pub lock_on_assign: Option<ValueLock>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub next: OwnerState,
    /// History lines in order; empty when nothing changed.
    pub history: Vec<HistoryEntry>,
    pub allocation: Option<PendingAllocation>,
}

/// A one-word summary of a [`Decision`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Keep,
    Change {
        to: ManagerId,
        reason: HistoryReason,
    },
    Lock {
        owner: ManagerId,
    },
    Unlocked {
        reason: HistoryReason,
    },
    NeedsAllocation,
}

impl Decision {
    pub(crate) fn start(state: &OwnerState) -> Self {
        Self {
            next: state.clone(),
            history: Vec::new(),
            allocation: None,
        }
    }

    /// Nothing to write: owner and lock unchanged, no allocation pending.
    pub fn is_fast_path(&self) -> bool {
        self.history.is_empty() && self.allocation.is_none()
    }

    pub fn outcome(&self) -> Outcome {
        if self.allocation.is_some() {
            return Outcome::NeedsAllocation;
        }
        let locked = self
            .history
            .iter()
            .rev()
            .find(|e| e.reason == HistoryReason::ValueLock);
        if let Some(owner) = locked.and_then(|e| e.to.clone()) {
            return Outcome::Lock { owner };
        }
        let moved = self.history.iter().rev().find(|e| e.from != e.to);
        if let Some((to, reason)) = moved.and_then(|e| e.to.clone().map(|to| (to, e.reason))) {
            return Outcome::Change { to, reason };
        }
        match self.history.last() {
            Some(entry) => Outcome::Unlocked {
                reason: entry.reason,
            },
            None => Outcome::Keep,
        }
    }

    /// Moves the customer to `to` (no-op when already theirs); the lock, if any, moves too.
    pub(crate) fn move_to(&mut self, to: &ManagerId, reason: HistoryReason, now: DateTime<Utc>) {
        if self.next.owner.as_ref() == Some(to) {
            return;
        }
        self.history.push(HistoryEntry {
            from: self.next.owner.clone(),
            to: Some(to.clone()),
            reason,
            locked_after: self.next.is_locked(),
            at: now,
        });
        self.next.owner = Some(to.clone());
    }

    pub(crate) fn place_lock(&mut self, lock: ValueLock, now: DateTime<Utc>) {
        self.next.lock = Some(lock);
        self.history.push(HistoryEntry {
            from: self.next.owner.clone(),
            to: self.next.owner.clone(),
            reason: HistoryReason::ValueLock,
            locked_after: true,
            at: now,
        });
    }

    pub(crate) fn release_lock(&mut self, reason: HistoryReason, now: DateTime<Utc>) {
        if self.next.lock.take().is_some() {
            self.history.push(HistoryEntry {
                from: self.next.owner.clone(),
                to: self.next.owner.clone(),
                reason,
                locked_after: false,
                at: now,
            });
        }
    }
}

/// Releases the lock when `expiry_days` have passed without a visit (also run by a
/// scheduled sweep, so a lock expires even if the customer never comes back).
pub fn expire_lock_if_due(
    state: &OwnerState,
    last_visit_at: Option<DateTime<Utc>>,
    policy: &AssignmentPolicy,
    now: DateTime<Utc>,
) -> Decision {
    let mut decision = Decision::start(state);
    let expiry_days = policy.value_lock().and_then(|lock| lock.expiry_days());
    if let (Some(lock), Some(days)) = (&state.lock, expiry_days)
        && lock_expiry_due(lock, last_visit_at, days, now)
    {
        decision.release_lock(HistoryReason::Expiry, now);
    }
    decision
}

/// A customer whose counted spend already reaches the value lock without a crossing having
/// locked them: the lock was turned on or lowered after they spent (a lock review), or two
/// records' spend adds up in a merge. Locked to their owner now, as the crossing would
/// have locked them. `None` when there is nothing to lock: no value lock, no owner,
/// already locked, or spend below the threshold.
pub fn lock_reached_threshold(
    state: &OwnerState,
    policy: &AssignmentPolicy,
    counted_spend_fen: i64,
    now: DateTime<Utc>,
) -> Option<Decision> {
    let lock = policy.value_lock()?;
    if state.owner.is_none() || state.is_locked() || counted_spend_fen < lock.threshold_fen() {
        return None;
    }
    let mut decision = Decision::start(state);
    decision.place_lock(
        ValueLock {
            locked_at: now,
            reason: crate::domain::value_lock::LockReason::ValueThreshold {
                counted_spend_fen,
                threshold_fen: lock.threshold_fen(),
            },
        },
        now,
    );
    Some(decision)
}

/// Manual lock by a store manager or HQ on the current owner. A no-op when already locked;
/// `None` when the customer has no owner (nothing to lock to).
pub fn lock_manually(state: &OwnerState, now: DateTime<Utc>) -> Option<Decision> {
    let owner = state.owner.clone()?;
    let mut decision = Decision::start(state);
    if state.is_locked() {
        return Some(decision);
    }
    decision.next.lock = Some(ValueLock {
        locked_at: now,
        reason: crate::domain::value_lock::LockReason::Manual,
    });
    decision.history.push(HistoryEntry {
        from: Some(owner.clone()),
        to: Some(owner),
        reason: HistoryReason::ManualLock,
        locked_after: true,
        at: now,
    });
    Some(decision)
}

/// Manual unlock by a store manager or HQ; the owner stays. A no-op when not locked.
pub fn unlock_manually(state: &OwnerState, now: DateTime<Utc>) -> Decision {
    let mut decision = Decision::start(state);
    decision.release_lock(HistoryReason::Unlock, now);
    decision
}

/// The per-contact rule (seed 二): expire a due lock; a locked customer stays put; else
/// the value-lock rule may lock (see `value_lock` for who gets it); else last contact
/// moves the customer to the contact manager; with neither owner nor contact manager the
/// store's strategy must allocate.
pub fn decide_on_contact(
    state: &OwnerState,
    contact: &Contact,
    policy: &AssignmentPolicy,
    now: DateTime<Utc>,
) -> Decision {
    let mut decision = expire_lock_if_due(state, contact.last_visit_at, policy, now);
    if decision.next.is_locked() {
        return decision;
    }
    let owner_before = decision.next.owner.clone();
    let via = contact.via_manager.as_ref();
    let grant = policy.value_lock().and_then(|lock_policy| {
        value_lock_on_contact(
            lock_policy,
            owner_before.as_ref(),
            via,
            contact.spend_before_fen,
            contact.spend_after_fen,
            now,
        )
    });
    match (grant, via) {
        (
            Some(LockGrant {
                owner: Some(owner),
                lock,
            }),
            _,
        ) => {
            decision.move_to(&owner, HistoryReason::LastContact, now);
            decision.place_lock(lock, now);
        }
        (Some(LockGrant { owner: None, lock }), _) => {
            decision.allocation = Some(PendingAllocation {
                lock_on_assign: Some(lock),
            });
        }
        (None, Some(via)) => decision.move_to(via, HistoryReason::LastContact, now),
        (None, None) if owner_before.is_none() => {
            decision.allocation = Some(PendingAllocation {
                lock_on_assign: None,
            });
        }
        (None, None) => {}
    }
    decision
}

/// Applies the manager the store's strategy picked (`reason` is the strategy's reason),
/// placing the pending lock if the allocating contact crossed the threshold.
pub fn assign_allocated(
    state: &OwnerState,
    manager_id: &ManagerId,
    reason: HistoryReason,
    pending: &PendingAllocation,
    now: DateTime<Utc>,
) -> Decision {
    let mut decision = Decision::start(state);
    decision.move_to(manager_id, reason, now);
    if let Some(lock) = pending.lock_on_assign {
        decision.place_lock(lock, now);
    }
    decision
}

#[cfg(test)]
mod tests;
