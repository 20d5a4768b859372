//! Pure domain rules of the assignment service: no tonic, no sea-orm types, no Redis, no
//! I/O and no clock reads (time is always an argument). The service layer loads state,
//! calls these functions, persists the results and records the history they return.
//!
//! - [`roster`]: managers, status, capacity, who may receive customers.
//! - [`policy`]: the validated chain/store assignment policy.
//! - [`value_lock`]: 价值客户锁定 — the lock rule, spend windows, expiry.
//! - [`ownership`]: last contact and the per-contact decision (with the no-write fast path).
//! - [`pick`] / [`allocation`]: the balance pick and the store strategies.
//! - [`bucket`]: store-local day/month buckets for counter keys.
//! - [`transfer`]: single and bulk transfers; [`merge`]: owner of merged customers.
//! - [`history`]: the recorded reasons; [`error`]: the domain error.

pub mod allocation;
pub mod bucket;
pub mod error;
pub mod explain;
pub mod history;
pub mod ids;
pub mod merge;
pub mod ownership;
pub mod pick;
pub mod policy;
pub mod roster;
pub mod transfer;
pub mod value_lock;

pub use error::AssignmentError;
pub use history::{HistoryEntry, HistoryReason};
pub use ids::{CustomerId, ManagerId, StoreId};
