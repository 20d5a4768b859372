//! Pure domain rules of the tagging service: no tonic, no sea-orm types.
pub mod catalog;
pub mod model;
pub mod rule;
pub mod segment;
