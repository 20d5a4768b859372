//! The use cases of the tagging service: compiled rule sets per chain, evaluation of
//! customers (live, in batches, on schedule), the writing of membership changes, scores,
//! refits and analyses, each over `storage` and the pure `domain`.

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
pub mod scores;
pub mod watch;
pub mod zones;
