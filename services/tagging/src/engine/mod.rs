//! The tagging engine: compiled rule sets per chain, evaluation of customers (live, in
//! batches, on schedule) and the writing of membership changes.

pub mod analysis;
pub mod apply;
pub mod batch;
pub mod catch_up;
pub mod evaluate;
pub mod live;
pub mod model_tags;
pub mod rates;
pub mod recompute;
pub mod refit;
pub mod refit_job;
pub mod ruleset;
pub mod schedule;
pub mod scores;
pub mod watch;
pub mod zones;
