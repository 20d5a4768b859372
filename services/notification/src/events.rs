//! The streams consumed: tagging's, assignment's and profile's, all through one handler
//! ([`consumers::AutomationHandler`]); and consent followed both ways with profile
//! ([`consent_sync`]: profile's choices followed, ours announced as `ConsentChanged`).

pub mod consent_sync;
pub mod consumers;

pub use consumers::{AutomationHandler, spawn_consumers};
