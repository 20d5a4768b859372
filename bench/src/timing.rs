//! Wall-clock timing for the benchmark tables: best of N runs after warm-up, the figure least
//! disturbed by other work on a shared machine.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};

/// Runs `operation` `warmups` times untimed, then `runs` times timed; returns the fastest run
/// and the last result. Fails on the first error, and when `runs` is 0.
pub fn best_of<T>(
    warmups: usize,
    runs: usize,
    mut operation: impl FnMut() -> Result<T>,
) -> Result<(Duration, T)> {
    ensure!(runs > 0, "best_of needs at least one timed run");
    for _ in 0..warmups {
        black_box(operation()?);
    }
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        let result = black_box(operation()?);
        best = best.min(started.elapsed());
        last = Some(result);
    }
    match last {
        Some(result) => Ok((best, result)),
        None => anyhow::bail!("best_of ran no timed run"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_warmups_and_runs_and_keeps_the_fastest() {
        let mut calls = 0;
        let timed = best_of(2, 3, || {
            calls += 1;
            // The first timed run (call 3) is the slow one.
            if calls == 3 {
                std::thread::sleep(Duration::from_millis(30));
            }
            Ok(calls)
        });
        let Ok((best, last)) = timed else {
            panic!("{timed:?}")
        };
        assert_eq!((calls, last), (5, 5));
        assert!(best < Duration::from_millis(30), "{best:?}");
    }

    #[test]
    fn stops_at_the_first_error_and_rejects_zero_runs() {
        let mut calls = 0;
        let failed = best_of(1, 5, || {
            calls += 1;
            anyhow::ensure!(calls < 2, "boom");
            Ok(())
        });
        assert!(failed.is_err());
        assert_eq!(calls, 2);
        assert!(best_of(0, 0, || Ok(())).is_err());
    }
}
