//! The notification benchmark (issue 7, "Benchmarks"): campaign dispatch decisions to the
//! log provider on PostgreSQL + Redis ([`dispatch`]), and "tag added → customer message
//! enqueued" across the running services ([`end_to_end`]).

pub mod dispatch;
pub mod end_to_end;

use std::time::Duration;

use crate::report::Verdict;

/// Issue 7: ≥ 20,000 messages/s.
pub const MIN_MESSAGES_PER_S: f64 = 20_000.0;
/// Issue 7: tag added → message enqueued, p99 ≤ 1 s.
pub const MAX_END_TO_END_P99_MS: f64 = 1_000.0;

/// Sizes of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scale {
    pub name: &'static str,
    /// Customers of the campaign's segment.
    pub segment_customers: usize,
    /// Most time given to enqueueing, and to dispatching (a bounded run: the rate is
    /// measured over what was done when the limit is reached).
    pub phase_limit: Duration,
    /// Customers tagged one after another in the end-to-end run.
    pub tagged_customers: usize,
}

impl Scale {
    /// `MAITRE_BENCH_SCALE=small`: 50,000 customers and 50 tagged; otherwise 1,000,000 and 200.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Scale {
        match var("MAITRE_BENCH_SCALE").as_deref() {
            Some("small") => Scale {
                name: "small",
                segment_customers: 50_000,
                phase_limit: Duration::from_secs(120),
                tagged_customers: 50,
            },
            _ => Scale {
                name: "full",
                segment_customers: 1_000_000,
                phase_limit: Duration::from_secs(300),
                tagged_customers: 200,
            },
        }
    }
}

/// A rate row: `what` processed `done` of `target_count` in `elapsed`.
pub fn rate_row(
    what: &str,
    done: u64,
    target_count: u64,
    elapsed: Duration,
) -> (Vec<String>, Verdict) {
    let per_s = done as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    let complete = done >= target_count;
    let verdict = Verdict::from_bool(complete && per_s >= MIN_MESSAGES_PER_S);
    let partial = if complete {
        String::new()
    } else {
        format!(" (time limit: {done} of {target_count})")
    };
    (
        vec![
            what.to_owned(),
            format!(
                "{per_s:.0} messages/s ({done} in {:.1} s){partial}",
                elapsed.as_secs_f64()
            ),
            format!("≥ {MIN_MESSAGES_PER_S:.0} messages/s"),
            verdict.label().to_owned(),
        ],
        verdict,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_rows_need_the_rate_and_the_whole_segment() {
        let second = Duration::from_secs(1);
        assert_eq!(rate_row("x", 30_000, 30_000, second).1, Verdict::Pass);
        assert_eq!(rate_row("x", 10_000, 10_000, second).1, Verdict::Fail);
        let (row, verdict) = rate_row("x", 25_000, 50_000, second);
        assert_eq!(verdict, Verdict::Fail);
        assert!(row[1].contains("time limit"));
    }

    #[test]
    fn small_scale_is_the_issue_sizes_shrunk() {
        assert_eq!(Scale::from_env(|_| None).segment_customers, 1_000_000);
        assert_eq!(
            Scale::from_env(|_| Some("small".into())).segment_customers,
            50_000
        );
    }
}
