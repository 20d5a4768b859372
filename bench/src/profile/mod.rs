//! The `profile` load benchmark (issue 3, "Benchmarks"): the real customer-profile service
//! in process on PostgreSQL + Redis, driven over gRPC on loopback.
//!
//! 1. `RecordEvent` from 32 concurrent clients (sustained events/s, ≥ 3,000/s);
//! 2. `RecordEventsBatch` imports of first visits (events/s, ≥ 50,000/s), which also load
//!    the customers for step 3;
//! 3. `LookupCustomer` by phone paced at 1,000 req/s (p99 ≤ 2 ms);
//! 4. `RecordEventsBatch` imports of repeat visits of the imported guests (events/s);
//! 5. the import's storage ceiling: the same rows written by PostgreSQL alone (`ceiling`),
//!    so the import's figure can be read against what this machine's database reaches.
//!
//! The assignment upstream is `http://127.0.0.1:1`: the connection is refused at once, so
//! every owner comes back `known = false` without waiting, and the figures are profile's
//! own (the benchmark says so in its output).

pub mod ceiling;
pub mod events;
pub mod load;
pub mod run;
pub mod verdicts;

use std::time::Duration;

/// How much load each step offers; `MAITRE_BENCH_SCALE=small` for a quick run.
#[derive(Debug, Clone, PartialEq)]
pub struct Scale {
    pub record_clients: usize,
    pub record_duration: Duration,
    /// Distinct guests each `RecordEvent` client cycles over (repeat visits after the first).
    pub guests_per_record_client: u64,
    pub batch_size: u64,
    pub import_clients: usize,
    /// Importing stops at this wall clock or at `import_max_customers`, whichever comes first.
    pub import_budget: Duration,
    pub import_max_customers: u64,
    pub lookup_rate_per_s: u32,
    pub lookup_duration: Duration,
    /// How long repeat visits of imported guests are imported.
    pub repeat_duration: Duration,
    /// How long each storage-ceiling variant writes (`ceiling`).
    pub ceiling_duration: Duration,
}

impl Scale {
    /// Issue 3's sizes: 32 clients for 15 s; up to 1M customers in ~2 minutes; 10 s of
    /// look-ups at 1,000/s.
    pub fn full() -> Self {
        Self {
            record_clients: 32,
            record_duration: Duration::from_secs(15),
            guests_per_record_client: 200,
            batch_size: 2_000,
            import_clients: 4,
            import_budget: Duration::from_secs(120),
            import_max_customers: 1_000_000,
            lookup_rate_per_s: 1_000,
            lookup_duration: Duration::from_secs(10),
            repeat_duration: Duration::from_secs(20),
            ceiling_duration: Duration::from_secs(20),
        }
    }

    /// A few seconds per step.
    pub fn small() -> Self {
        Self {
            record_duration: Duration::from_secs(3),
            import_budget: Duration::from_secs(15),
            import_max_customers: 100_000,
            lookup_duration: Duration::from_secs(2),
            repeat_duration: Duration::from_secs(5),
            ceiling_duration: Duration::from_secs(5),
            ..Self::full()
        }
    }

    /// `small` when `MAITRE_BENCH_SCALE=small`, else `full`.
    pub fn from_env() -> Self {
        match std::env::var("MAITRE_BENCH_SCALE").as_deref() {
            Ok("small") => Self::small(),
            _ => Self::full(),
        }
    }

    /// Calls of the paced look-up step.
    pub fn lookup_calls(&self) -> u64 {
        (f64::from(self.lookup_rate_per_s) * self.lookup_duration.as_secs_f64()).round() as u64
    }

    /// Batches each import client sends at most.
    pub fn import_batches_per_client(&self) -> u64 {
        let per_round = self.batch_size * self.import_clients.max(1) as u64;
        self.import_max_customers.div_ceil(per_round)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_bound_every_step() {
        let full = Scale::full();
        assert_eq!(full.lookup_calls(), 10_000);
        // 4 clients × 125 batches × 2,000 = the 1M customers of the issue.
        assert_eq!(full.import_batches_per_client(), 125);
        let small = Scale::small();
        assert!(small.record_duration < full.record_duration);
        assert_eq!(small.lookup_calls(), 2_000);
        assert_eq!(small.import_batches_per_client(), 13);
    }
}
