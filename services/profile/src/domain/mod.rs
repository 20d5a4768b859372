//! Pure domain rules of the profile service: no tonic, no sea-orm types.
//!
//! Nothing here does I/O or reads the clock: time is always an argument. The
//! service layer calls these functions and persists what they return.
//!
//! - [`phone`], [`identity`], [`resolution`]: identity keys and which customer
//!   they name (find, create, merge, or block).
//! - [`event`]: channel events and their validation.
//! - [`aggregates`]: per-customer figures kept current per visit, mergeable.
//! - [`profile`]: the guest's profile and field-mask updates.
//! - [`consent`]: one marketing consent per channel, the latest choice from any door.
//! - [`rfm`], [`classification`]: scores 1–5 and class A/B/C with 接待策略.
//! - [`followup`]: follow-up records, plans and their status.
//! - [`access`]: roles and masked contact data.
//! - [`error`]: field-named errors shared by all of the above.
pub mod access;
pub mod aggregates;
pub mod classification;
pub mod consent;
pub mod error;
pub mod event;
pub mod followup;
pub mod identity;
pub mod ids;
pub mod phone;
pub mod profile;
pub mod resolution;
pub mod rfm;
