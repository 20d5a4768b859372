//! The tagging benchmark's table rows: one operation timed in maitre and (when it ran) in
//! PostgreSQL, its target (a time limit, a speed-up, or both; none for rows that only
//! inform), and the verdict. Also percentiles and the human units the tables print.

use std::time::Duration;

use crate::report::{Verdict, markdown_table};

/// What a row must meet. A missing half is not judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// `label` names the statistic (`p99`, `median`), `max_s` its limit.
    pub max_s: Option<f64>,
    pub min_speedup: Option<f64>,
    pub label: &'static str,
}

impl Target {
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(max_s) = self.max_s {
            let prefix = if self.label.is_empty() {
                String::new()
            } else {
                format!("{} ", self.label)
            };
            parts.push(format!("{prefix}≤ {}", human_seconds(max_s)));
        }
        if let Some(min) = self.min_speedup {
            parts.push(format!("≥ {min}× PostgreSQL"));
        }
        parts.join(", ")
    }
}

/// One line of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparedRow {
    pub operation: String,
    pub maitre_s: f64,
    pub postgres_s: Option<f64>,
    pub target: Option<Target>,
    /// Whether both sides produced the same result; a speed-up over a different answer
    /// does not count.
    pub agrees: Option<bool>,
}

impl ComparedRow {
    pub fn speedup(&self) -> Option<f64> {
        self.postgres_s
            .filter(|_| self.maitre_s > 0.0)
            .map(|theirs| theirs / self.maitre_s)
    }

    /// `None` for rows with no target. A speed-up target without a PostgreSQL time is not
    /// judged (the time limit alone decides; with no time limit the row is skipped).
    pub fn verdict(&self) -> Option<Verdict> {
        let target = self.target?;
        let mut judged = Vec::new();
        if let Some(max_s) = target.max_s {
            judged.push(self.maitre_s <= max_s);
        }
        if let (Some(min), Some(speedup)) = (target.min_speedup, self.speedup()) {
            judged.push(speedup >= min && self.agrees != Some(false));
        }
        Some(if judged.is_empty() {
            Verdict::Skipped
        } else {
            Verdict::from_bool(judged.iter().all(|&ok| ok))
        })
    }
}

/// The table: operation | maitre | PostgreSQL | speed-up | target | verdict.
pub fn comparison_table(rows: &[ComparedRow]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                row.operation.clone(),
                human_seconds(row.maitre_s),
                row.postgres_s.map_or("—".into(), human_seconds),
                row.speedup().map_or("—".into(), |s| format!("{s:.1}×")),
                row.target.map_or("—".into(), |t| t.describe()),
                row.verdict().map_or("—".into(), |v| v.label().to_owned()),
            ]
        })
        .collect();
    markdown_table(
        &[
            "operation",
            "maitre",
            "PostgreSQL",
            "speed-up",
            "target",
            "verdict",
        ],
        &cells,
    )
}

/// `1.23 s`, `4.56 ms`, `789 µs`, `85 ns`: three significant digits in the nearest unit.
pub fn human_seconds(seconds: f64) -> String {
    let (value, unit) = if seconds >= 1.0 {
        (seconds, "s")
    } else if seconds >= 1e-3 {
        (seconds * 1e3, "ms")
    } else if seconds >= 1e-6 {
        (seconds * 1e6, "µs")
    } else {
        (seconds * 1e9, "ns")
    };
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.decimals$} {unit}")
}

/// `1.50 GiB`, `12.3 MiB`, `4.0 KiB` (binary units, as RSS is usually read).
pub fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KiB", b / 1024.0)
    }
}

/// The `q`-quantile (0..=1) of `samples` by nearest rank; sorts them. `None` when empty.
pub fn quantile(samples: &mut [Duration], q: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let rank = (q.clamp(0.0, 1.0) * samples.len() as f64).ceil() as usize;
    samples.get(rank.saturating_sub(1)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(maitre_s: f64, postgres_s: Option<f64>, target: Target) -> ComparedRow {
        ComparedRow {
            operation: "op".into(),
            maitre_s,
            postgres_s,
            target: Some(target),
            agrees: Some(true),
        }
    }

    const BOTH: Target = Target {
        max_s: Some(0.005),
        min_speedup: Some(50.0),
        label: "median",
    };

    #[test]
    fn verdicts_need_every_half_that_can_be_judged() {
        assert_eq!(row(0.001, Some(0.1), BOTH).verdict(), Some(Verdict::Pass));
        assert_eq!(row(0.006, Some(1.0), BOTH).verdict(), Some(Verdict::Fail));
        assert_eq!(row(0.004, Some(0.1), BOTH).verdict(), Some(Verdict::Fail));
        assert_eq!(row(0.004, None, BOTH).verdict(), Some(Verdict::Pass));
        let speed_only = Target {
            max_s: None,
            ..BOTH
        };
        assert_eq!(
            row(0.004, None, speed_only).verdict(),
            Some(Verdict::Skipped)
        );
        let mut disagreeing = row(0.001, Some(1.0), BOTH);
        disagreeing.agrees = Some(false);
        assert_eq!(disagreeing.verdict(), Some(Verdict::Fail));
        disagreeing.target = None;
        assert_eq!(disagreeing.verdict(), None);
        assert_eq!(row(0.5, Some(2.0), BOTH).speedup(), Some(4.0));
    }

    #[test]
    fn targets_and_tables_read_as_the_issue_states_them() {
        assert_eq!(BOTH.describe(), "median ≤ 5.00 ms, ≥ 50× PostgreSQL");
        let table = comparison_table(&[row(0.001, None, BOTH)]);
        assert!(
            table.contains("| 1.00 ms |") && table.contains("| pass"),
            "{table}"
        );
        assert!(table.starts_with("| operation"));
    }

    #[test]
    fn units_and_quantiles() {
        assert_eq!(human_seconds(1.234), "1.23 s");
        assert_eq!(human_seconds(0.0456), "45.6 ms");
        assert_eq!(human_seconds(0.000_789), "789 µs");
        assert_eq!(human_seconds(85e-9), "85.0 ns");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        assert_eq!(quantile(&mut samples, 0.5), Some(Duration::from_micros(50)));
        assert_eq!(
            quantile(&mut samples, 0.99),
            Some(Duration::from_micros(99))
        );
        assert_eq!(
            quantile(&mut samples, 1.0),
            Some(Duration::from_micros(100))
        );
        assert_eq!(quantile(&mut [], 0.5), None);
    }
}
