//! Automations between the contract and the domain: [`definition`] converts and validates the stored
//! proto definition, [`fire`] runs an event through the chain's enabled automations.

pub mod definition;
pub mod fire;

pub use definition::to_domain;
pub use fire::{fire, trigger_kinds};
