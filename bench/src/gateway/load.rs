//! Load shapes shared by the service benchmarks: a closed loop of one caller timing each
//! call (latency), and a fixed number of concurrent callers for a fixed time (throughput),
//! with the percentiles the tables quote.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

/// p50 and p99 of a set of timed calls, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySummary {
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub samples: usize,
}

/// The nearest-rank `quantile` (0..=1) of `sorted` (ascending); `None` when empty.
pub fn nearest_rank(sorted: &[Duration], quantile: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (quantile.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .copied()
}

/// p50/p99/max of `samples`; `None` when there are none.
pub fn summarize(mut samples: Vec<Duration>) -> Option<LatencySummary> {
    samples.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    Some(LatencySummary {
        p50_us: us(nearest_rank(&samples, 0.50)?),
        p99_us: us(nearest_rank(&samples, 0.99)?),
        max_us: us(*samples.last()?),
        samples: samples.len(),
    })
}

/// One caller: `warmups` untimed calls, then `calls` timed ones, one after the other.
pub async fn sequential<F, Fut>(warmups: usize, calls: usize, mut call: F) -> Result<LatencySummary>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    for _ in 0..warmups {
        call().await.context("warm-up call")?;
    }
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        call().await.context("timed call")?;
        samples.push(started.elapsed());
    }
    summarize(samples).context("no timed calls")
}

/// `concurrency` callers, each calling in a closed loop for `duration`; completed calls per
/// second. The first failed call fails the run.
pub async fn throughput<F, Fut>(concurrency: usize, duration: Duration, call: F) -> Result<f64>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    ensure!(concurrency > 0, "throughput needs at least one caller");
    let started = Instant::now();
    let deadline = started + duration;
    let mut callers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let call = call.clone();
        callers.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline {
                call().await?;
                done += 1;
            }
            Ok::<u64, anyhow::Error>(done)
        }));
    }
    let mut total = 0u64;
    for caller in callers {
        total += caller.await.context("caller task")??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_picks_the_ceiling_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(nearest_rank(&sorted, 0.5), Some(Duration::from_micros(50)));
        assert_eq!(nearest_rank(&sorted, 0.99), Some(Duration::from_micros(99)));
        assert_eq!(nearest_rank(&sorted, 1.0), Some(Duration::from_micros(100)));
        assert_eq!(nearest_rank(&sorted, 0.0), Some(Duration::from_micros(1)));
        assert_eq!(nearest_rank(&[], 0.5), None);
    }

    #[test]
    fn summarize_sorts_first() {
        let samples = vec![Duration::from_micros(30), Duration::from_micros(10)];
        let summary = summarize(samples).expect("two samples");
        assert_eq!(summary.p50_us, 10.0);
        assert_eq!(summary.max_us, 30.0);
        assert!(summarize(Vec::new()).is_none());
    }

    #[tokio::test]
    async fn throughput_counts_calls_and_propagates_failures() {
        let rate = throughput(2, Duration::from_millis(50), || async { Ok(()) })
            .await
            .expect("ok calls");
        assert!(rate > 0.0);
        let failed = throughput(1, Duration::from_millis(50), || async {
            anyhow::bail!("refused")
        })
        .await;
        assert!(failed.is_err());
    }
}
