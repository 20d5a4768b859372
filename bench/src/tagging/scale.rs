//! How big the tagging benchmark runs: the issue's sizes by default, a quick `small` run
//! with `MAITRE_BENCH_SCALE=small`, and PostgreSQL's share of the recompute chain and its
//! number of timed runs from the environment.

/// Sizes of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scale {
    pub name: &'static str,
    /// Live re-evaluations timed in process.
    pub live_evaluations: usize,
    /// Live statements timed in PostgreSQL (each is a round trip; fewer suffice for p99).
    pub pg_live_queries: usize,
    /// Guests of the recompute chain (20 visits each on average).
    pub customers: u32,
    /// Guests of the chain loaded into PostgreSQL (a prefix of the above).
    pub pg_customers: u32,
    /// Customers of the segment benchmark.
    pub segment_customers: u32,
    /// Timed runs of each PostgreSQL recompute, after one warm-up.
    pub pg_runs: usize,
}

impl Scale {
    /// Issue 5's sizes: 1M guests with ~20M visits, 10M customers for segments.
    pub fn full() -> Scale {
        Scale {
            name: "full",
            live_evaluations: 100_000,
            pg_live_queries: 2_000,
            customers: 1_000_000,
            pg_customers: 1_000_000,
            segment_customers: 10_000_000,
            pg_runs: 2,
        }
    }

    /// A run of a few seconds, for trying the benchmark out.
    pub fn small() -> Scale {
        Scale {
            name: "small",
            live_evaluations: 10_000,
            pg_live_queries: 500,
            customers: 50_000,
            pg_customers: 50_000,
            segment_customers: 500_000,
            pg_runs: 3,
        }
    }

    /// `MAITRE_BENCH_SCALE` (`small`; anything else is full), `MAITRE_BENCH_PG_CUSTOMERS`
    /// (at most the chain's guests), `MAITRE_BENCH_PG_RUNS` (at least 1), read through `var`.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Scale {
        let mut scale = match var("MAITRE_BENCH_SCALE").as_deref() {
            Some("small") => Scale::small(),
            _ => Scale::full(),
        };
        let number = |name: &str| var(name).and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(n) = number("MAITRE_BENCH_PG_CUSTOMERS") {
            scale.pg_customers = u32::try_from(n)
                .unwrap_or(u32::MAX)
                .clamp(1, scale.customers);
        }
        if let Some(n) = number("MAITRE_BENCH_PG_RUNS") {
            scale.pg_runs = usize::try_from(n).unwrap_or(usize::MAX).max(1);
        }
        scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn defaults_are_the_issues_sizes_and_small_is_opt_in() {
        assert_eq!(Scale::from_env(env(&[])), Scale::full());
        assert_eq!(
            Scale::from_env(env(&[("MAITRE_BENCH_SCALE", "tiny")])),
            Scale::full()
        );
        let small = Scale::from_env(env(&[("MAITRE_BENCH_SCALE", "small")]));
        assert_eq!(small, Scale::small());
        assert_eq!(Scale::full().customers, 1_000_000);
        assert_eq!(Scale::full().segment_customers, 10_000_000);
    }

    #[test]
    fn postgres_knobs_are_bounded() {
        let scale = Scale::from_env(env(&[
            ("MAITRE_BENCH_PG_CUSTOMERS", "200000"),
            ("MAITRE_BENCH_PG_RUNS", "0"),
        ]));
        assert_eq!((scale.pg_customers, scale.pg_runs), (200_000, 1));
        let capped = Scale::from_env(env(&[
            ("MAITRE_BENCH_SCALE", "small"),
            ("MAITRE_BENCH_PG_CUSTOMERS", "99999999999"),
            ("MAITRE_BENCH_PG_RUNS", "x"),
        ]));
        assert_eq!((capped.pg_customers, capped.pg_runs), (50_000, 3));
    }
}
