//! Pure domain rules of the tagging service: no tonic, no sea-orm types.
pub mod analysis;
pub mod catalog;
pub mod holdout;
pub mod membership;
pub mod model;
pub mod predict;
pub mod rule;
pub mod segment;
