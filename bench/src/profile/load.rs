//! Load generation over async operations, shared by the `profile` and `assignment`
//! benchmarks: a closed loop (N workers, each calling again as soon as its call returns, for
//! a fixed time and at most a fixed number of calls) and an open, paced loop (a fixed rate
//! for a fixed count, each call started on schedule whatever the earlier ones are doing, so
//! a slow answer shows in the latency rather than slowing the offered rate). Both record each
//! call's latency for p50/p99.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

/// What one operation reports: the units of work it did (events, decisions), or why it
/// failed.
pub type OpResult = Result<u64, String>;

/// The outcome of a load run.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    /// Units of work done by successful calls (an event, a decision, a whole batch's events).
    pub units: u64,
    /// Successful calls.
    pub ok_calls: u64,
    /// Failed calls.
    pub failed_calls: u64,
    /// The first failure, to print.
    pub first_error: Option<String>,
    /// Wall clock from the first call to the last answer.
    pub elapsed: Duration,
    /// Latency of every successful call, microseconds, sorted.
    pub latencies_us: Vec<u64>,
}

impl LoadResult {
    /// Units of work per second of wall clock.
    pub fn units_per_s(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.units as f64 / seconds
        } else {
            0.0
        }
    }

    /// The `quantile` (0–1) latency in milliseconds (nearest rank); 0 without calls.
    pub fn latency_ms(&self, quantile: f64) -> f64 {
        nearest_rank_us(&self.latencies_us, quantile) as f64 / 1000.0
    }

    fn absorb(&mut self, worker: WorkerTally) {
        self.units += worker.units;
        self.ok_calls += worker.latencies_us.len() as u64;
        self.failed_calls += worker.failed_calls;
        if self.first_error.is_none() {
            self.first_error = worker.first_error;
        }
        self.latencies_us.extend(worker.latencies_us);
    }

    fn finish(mut self, elapsed: Duration) -> Self {
        self.elapsed = elapsed;
        self.latencies_us.sort_unstable();
        self
    }
}

/// The nearest-rank percentile of sorted `values`: the smallest value with at least
/// `quantile` of the values at or below it.
pub fn nearest_rank_us(sorted: &[u64], quantile: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (quantile.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Default)]
struct WorkerTally {
    units: u64,
    failed_calls: u64,
    first_error: Option<String>,
    latencies_us: Vec<u64>,
}

impl WorkerTally {
    fn record(&mut self, started: Instant, outcome: OpResult) {
        match outcome {
            Ok(units) => {
                self.units += units;
                self.latencies_us.push(started.elapsed().as_micros() as u64);
            }
            Err(error) => {
                self.failed_calls += 1;
                self.first_error.get_or_insert(error);
            }
        }
    }
}

/// `workers` tasks each call `op(worker, call_number)` back to back until `duration` has
/// passed or they made `max_calls_per_worker` calls.
pub async fn closed_loop<F, Fut>(
    workers: usize,
    duration: Duration,
    max_calls_per_worker: u64,
    op: F,
) -> LoadResult
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = OpResult> + Send + 'static,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = JoinSet::new();
    for worker in 0..workers {
        let op = op.clone();
        tasks.spawn(async move {
            let mut tally = WorkerTally::default();
            for call in 0..max_calls_per_worker {
                if Instant::now() >= deadline {
                    break;
                }
                let call_started = Instant::now();
                let outcome = op(worker, call).await;
                tally.record(call_started, outcome);
            }
            tally
        });
    }
    let mut result = LoadResult::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(tally) => result.absorb(tally),
            Err(error) => {
                result.failed_calls += 1;
                result
                    .first_error
                    .get_or_insert(format!("worker died: {error}"));
            }
        }
    }
    result.finish(started.elapsed())
}

/// `calls` calls of `op(call_number)` started at `rate_per_s`, each on its own task.
pub async fn paced<F, Fut>(rate_per_s: u32, calls: u64, op: F) -> LoadResult
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = OpResult> + Send + 'static,
{
    let op = Arc::new(op);
    let period = Duration::from_secs_f64(1.0 / f64::from(rate_per_s.max(1)));
    let mut ticker = tokio::time::interval(period);
    // A late tick fires at once and the schedule keeps its original times: the offered rate
    // stays the target rate over the run.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for call in 0..calls {
        ticker.tick().await;
        let op = op.clone();
        tasks.spawn(async move {
            let mut tally = WorkerTally::default();
            let call_started = Instant::now();
            let outcome = op(call).await;
            tally.record(call_started, outcome);
            tally
        });
    }
    let mut result = LoadResult::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(tally) => result.absorb(tally),
            Err(error) => {
                result.failed_calls += 1;
                result
                    .first_error
                    .get_or_insert(format!("call died: {error}"));
            }
        }
    }
    result.finish(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(nearest_rank_us(&values, 0.5), 50);
        assert_eq!(nearest_rank_us(&values, 0.99), 99);
        assert_eq!(nearest_rank_us(&values, 1.0), 100);
        assert_eq!(nearest_rank_us(&values, 0.0), 1);
        assert_eq!(nearest_rank_us(&[], 0.99), 0);
        assert_eq!(nearest_rank_us(&[7], 0.99), 7);
    }

    #[tokio::test]
    async fn closed_loop_counts_units_failures_and_stops_at_the_cap() {
        let result = closed_loop(4, Duration::from_secs(5), 10, |worker, call| async move {
            if worker == 0 && call == 3 {
                Err(format!("boom {worker}/{call}"))
            } else {
                Ok(2)
            }
        })
        .await;
        assert_eq!(result.ok_calls, 39);
        assert_eq!(result.failed_calls, 1);
        assert_eq!(result.units, 78);
        assert_eq!(result.first_error.as_deref(), Some("boom 0/3"));
        assert_eq!(result.latencies_us.len(), 39);
        assert!(result.latencies_us.windows(2).all(|w| w[0] <= w[1]));
    }

    #[tokio::test]
    async fn paced_loop_keeps_the_rate() {
        let result = paced(200, 40, |_| async { Ok(1) }).await;
        assert_eq!(result.units, 40);
        // 40 calls at 200/s take about 0.2 s: the schedule held them back.
        assert!(
            result.elapsed >= Duration::from_millis(180),
            "{:?}",
            result.elapsed
        );
        assert!(result.units_per_s() <= 230.0, "{}", result.units_per_s());
    }
}
