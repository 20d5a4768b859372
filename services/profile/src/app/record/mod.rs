//! Recording contact events: the one write path. A single `RecordEvent` call waits in the
//! group-commit queue (`queue`), a batch import's chunk is handed over directly, and both
//! are written by [`record_group`]: the chunk's independent events set-based (`bulk`), the
//! rest one at a time in order (`one`), each event's changes computed without writing by
//! `apply`. Customer resolution (`resolve`) is shared with `UpsertCustomer`.
//!
//! Modules only depend downwards: context ← apply, resolve ← bulk, one ← group ← queue.

mod apply;
mod bulk;
mod context;
mod group;
mod one;
mod queue;
mod resolve;

pub use context::{IngestContext, Item, ItemOutcome, Recorded};
pub use group::{Group, is_item_error, record_group};
pub use one::replayed;
pub use queue::{GroupCommit, Pending};
pub use resolve::resolve_customer;
