//! The load benchmarks' table (operation | measured | target | verdict) and closing line,
//! shared by `profile` and `assignment`; built on [`crate::report`].

use crate::report::{Verdict, closing_line, markdown_table};

use super::load::LoadResult;

/// One row: what was measured, the target it is judged against, and the verdict; `None` for
/// a reference measurement, which is shown but not counted.
#[derive(Debug, Clone)]
pub struct TargetRow {
    pub operation: String,
    pub measured: String,
    pub target: String,
    pub verdict: Option<Verdict>,
}

/// Throughput and latency of a load run, as the "measured" cell says them.
pub fn describe(result: &LoadResult, unit: &str) -> String {
    let mut text = format!(
        "{} {unit}/s (p50 {:.2} ms, p99 {:.2} ms, {} calls",
        thousands(result.units_per_s()),
        result.latency_ms(0.50),
        result.latency_ms(0.99),
        thousands(result.ok_calls as f64),
    );
    if result.failed_calls > 0 {
        text += &format!(", {} FAILED", result.failed_calls);
    }
    text.push(')');
    text
}

/// A run with failed calls fails its target whatever its speed: a fast error is no answer.
pub fn judged(result: &LoadResult, meets_target: bool) -> Verdict {
    Verdict::from_bool(meets_target && result.failed_calls == 0 && result.ok_calls > 0)
}

/// `12,345` for 12345.4.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut grouped = String::new();
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// The table and the closing line `name: N passed, M failed`.
pub fn render(name: &str, rows: &[TargetRow]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                row.operation.clone(),
                row.measured.clone(),
                row.target.clone(),
                row.verdict.map_or("—", Verdict::label).to_owned(),
            ]
        })
        .collect();
    let verdicts: Vec<Verdict> = rows.iter().filter_map(|row| row.verdict).collect();
    format!(
        "{}\n{}",
        markdown_table(&["operation", "measured", "target", "verdict"], &cells),
        closing_line(name, &verdicts)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(12_345.4), "12,345");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }

    #[test]
    fn failures_fail_the_target_and_show() {
        let result = LoadResult {
            units: 2_000,
            ok_calls: 2_000,
            failed_calls: 3,
            elapsed: Duration::from_secs(1),
            latencies_us: vec![1_000; 2_000],
            ..LoadResult::default()
        };
        assert_eq!(judged(&result, true), Verdict::Fail);
        assert!(describe(&result, "events").contains("3 FAILED"));
        assert!(describe(&result, "events").starts_with("2,000 events/s"));
        let clean = LoadResult {
            failed_calls: 0,
            ..result
        };
        assert_eq!(judged(&clean, true), Verdict::Pass);
        assert_eq!(judged(&clean, false), Verdict::Fail);
    }

    #[test]
    fn the_report_ends_with_the_counts() {
        let row = |verdict| TargetRow {
            operation: "op".into(),
            measured: "1/s".into(),
            target: "≥ 1/s".into(),
            verdict,
        };
        let text = render(
            "profile",
            &[
                row(Some(Verdict::Pass)),
                row(None),
                row(Some(Verdict::Fail)),
            ],
        );
        assert!(text.starts_with("| operation"));
        assert!(text.contains("| —"), "the reference row is shown unjudged");
        assert!(text.ends_with("profile: 1 passed, 1 failed"));
    }
}
