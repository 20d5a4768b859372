//! Identifiers the assignment rules speak about. Opaque strings: the service layer decides
//! their format (UUIDs in storage); the rules only compare and order them.

use maitre_kit::string_id;

string_id!(
    /// A customer manager (客户经理). Roster order is the ascending order of this id.
    ManagerId
);
string_id!(
    /// A store of the chain; strategies and counters are per store.
    StoreId
);
string_id!(
    /// A customer (one per real person per chain).
    CustomerId
);
