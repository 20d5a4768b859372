//! Typed identifiers used across the profile domain.
//!
//! Customer ids are UUIDs minted by this service; store, staff and dish ids
//! come from the chain's own systems, so they are opaque strings here.

use std::fmt;

use uuid::Uuid;

/// One customer (one real person per chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomerId(pub Uuid);

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

use maitre_kit::string_id;

string_id!(
    /// A store of the chain.
    StoreId
);
string_id!(
    /// A staff member (customer manager, front desk, store manager).
    StaffId
);
