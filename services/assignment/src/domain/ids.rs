//! Identifiers the assignment rules speak about. Opaque strings: the service layer decides
//! their format (UUIDs in storage); the rules only compare and order them.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }
    };
}

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
