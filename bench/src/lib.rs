//! Benchmarks that print tables (`make bench`). Each binary in `src/bin` is one benchmark;
//! this library holds what they share and what is worth unit-testing: the synthetic chain,
//! timing, the Python reference runner and the verdict tables.
//!
//! - `predictive`: BG/NBD fit and scoring (`maitre_tagging::domain::model`) against Python
//!   `lifetimes` on the same synthetic chain (issue 11, "Benchmarks").
//! - `tagging`: live re-evaluation, full recompute and segment counts against PostgreSQL
//!   (issue 5, "Benchmarks"); its pieces are in [`tagging`].

pub mod assignment;
pub mod catchup;
pub mod gateway;
pub mod notification;
pub mod profile;
pub mod proxies;
pub mod python;
pub mod report;
pub mod summary_csv;
pub mod synthetic;
pub mod tagging;
pub mod timing;

/// The allocator the `maitre` binary runs with, so the services measured here allocate as
/// they do when deployed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
