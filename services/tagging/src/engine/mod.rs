//! The tagging engine: compiled rule sets per chain, evaluation of customers (live, in
//! batches, on schedule) and the writing of membership changes.

pub mod apply;
pub mod batch;
pub mod evaluate;
pub mod live;
pub mod recompute;
pub mod ruleset;
pub mod schedule;
