//! Automations between the contract and the domain: [`definition`] converts and validates the stored
//! proto definition, [`fire`] runs an event through the chain's enabled automations, and owner
//! actions that fire before the owner is known wait in [`awaiting`].

pub mod awaiting;
pub mod definition;
pub mod fire;

pub use definition::to_domain;
pub use fire::{fire, trigger_kinds};
