//! The one error type of the assignment domain. Every variant names the field or the entity
//! that was wrong, so the service edge can map it to `InvalidArgument` /
//! `FailedPrecondition` with a useful message. Capacity exhaustion during allocation is not
//! here: a customer nobody can take waits in the unassigned pool
//! ([`crate::domain::allocation::Allocation::Unassigned`]).

use crate::domain::ids::{ManagerId, StoreId};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignmentError {
    /// A money threshold must be strictly positive (a zero threshold would lock everyone).
    #[error("{field} must be greater than 0 fen, got {value_fen}")]
    NonPositiveThreshold { field: &'static str, value_fen: i64 },

    /// A day count (window, expiry) or a cap must be at least 1.
    #[error("{field} must be at least 1, got 0")]
    ZeroNotAllowed { field: &'static str },

    #[error("unknown time zone {name:?} in {field}")]
    UnknownTimeZone { field: &'static str, name: String },

    #[error("manager {manager_id} appears twice in the roster")]
    DuplicateManager { manager_id: ManagerId },

    #[error("manager {manager_id} is not on the roster")]
    UnknownManager { manager_id: ManagerId },

    #[error("manager {manager_id} has left and cannot receive customers")]
    ManagerLeft { manager_id: ManagerId },

    #[error("manager {manager_id} is at capacity ({max_customers} customers)")]
    ManagerAtCapacity {
        manager_id: ManagerId,
        max_customers: u64,
    },

    #[error("cannot transfer customers of manager {manager_id} to that same manager")]
    TransferToSameManager { manager_id: ManagerId },

    #[error("bulk transfer needs at least one target manager in {field}")]
    NoTransferTargets { field: &'static str },

    #[error(
        "bulk transfer of {customers} customers exceeds the targets' free capacity of {free_capacity}"
    )]
    InsufficientCapacity { customers: u64, free_capacity: u64 },

    /// The store's strategy has nobody to choose from: no manager who has not left is on the
    /// store's roster. A configuration problem, unlike "everyone is busy" (the pool).
    #[error("store {store_id} has no managers for its allocation strategy")]
    NoEligibleManagers { store_id: StoreId },
}
