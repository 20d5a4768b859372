//! The benchmark's verdicts and tables: which targets a measurement meets (issue 11,
//! "Benchmarks"), whether two parameter sets agree to N significant digits, and Markdown
//! tables that paste into a note as they are.

/// A timing target: at most `max_s` seconds and at least `min_speedup` times faster than the
/// reference tool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimedTarget {
    pub max_s: f64,
    pub min_speedup: f64,
}

impl TimedTarget {
    pub fn describe(&self) -> String {
        format!("≤ {} s, ≥ {}× faster", self.max_s, self.min_speedup)
    }
}

/// The outcome of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// The reference tool did not run, so the target could not be judged.
    Skipped,
}

impl Verdict {
    pub fn from_bool(ok: bool) -> Self {
        if ok { Verdict::Pass } else { Verdict::Fail }
    }

    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Skipped => "skipped",
        }
    }
}

/// One timed operation, ours against the reference (absent when the comparison was skipped).
#[derive(Debug, Clone, PartialEq)]
pub struct TimedRow {
    pub operation: String,
    pub maitre_s: f64,
    pub lifetimes_s: Option<f64>,
    pub target: TimedTarget,
}

impl TimedRow {
    pub fn speedup(&self) -> Option<f64> {
        self.lifetimes_s.map(|theirs| theirs / self.maitre_s)
    }

    /// Both halves of the target; without the reference only the absolute time is judged.
    pub fn verdict(&self) -> Verdict {
        let fast_enough = self.maitre_s <= self.target.max_s;
        match self.speedup() {
            Some(speedup) => Verdict::from_bool(fast_enough && speedup >= self.target.min_speedup),
            None => Verdict::from_bool(fast_enough),
        }
    }
}

/// `true` when `ours` and `theirs` differ by at most half a unit in the `digits`-th
/// significant digit of the larger, i.e. they print the same to `digits` digits unless they
/// straddle a rounding boundary (where plain rounding would call 0.24349 and 0.24351
/// different).
pub fn agree_to_significant_digits(ours: f64, theirs: f64, digits: i32) -> bool {
    if !(ours.is_finite() && theirs.is_finite()) {
        return false;
    }
    let magnitude = ours.abs().max(theirs.abs());
    if magnitude == 0.0 {
        return true;
    }
    let leading = magnitude.log10().floor() as i32;
    let half_unit = 0.5 * 10f64.powi(leading - digits + 1);
    (ours - theirs).abs() <= half_unit
}

/// `value` rounded to `digits` significant digits, for display.
pub fn significant(value: f64, digits: usize) -> String {
    if !value.is_finite() || value == 0.0 {
        return format!("{value}");
    }
    let leading = value.abs().log10().floor() as i64;
    let decimals = (digits as i64 - 1 - leading).max(0) as usize;
    format!("{value:.decimals$}")
}

/// A Markdown table with columns padded to their widest cell.
pub fn markdown_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:<width$}"))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut table = line(headers.iter().map(|h| h.to_string()).collect());
    table += &line(widths.iter().map(|&w| "-".repeat(w)).collect());
    for row in rows {
        table += &line(row.clone());
    }
    table
}

/// The closing line the CI reader recognises: `predictive: N passed, M failed[, K skipped]`.
pub fn closing_line(name: &str, verdicts: &[Verdict]) -> String {
    let count = |wanted| verdicts.iter().filter(|&&v| v == wanted).count();
    let mut line = format!(
        "{name}: {} passed, {} failed",
        count(Verdict::Pass),
        count(Verdict::Fail)
    );
    let skipped = count(Verdict::Skipped);
    if skipped > 0 {
        line += &format!(", {skipped} skipped");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIT: TimedTarget = TimedTarget {
        max_s: 0.3,
        min_speedup: 3.0,
    };

    fn row(maitre_s: f64, lifetimes_s: Option<f64>) -> TimedRow {
        TimedRow {
            operation: "fit".into(),
            maitre_s,
            lifetimes_s,
            target: FIT,
        }
    }

    #[test]
    fn a_target_needs_both_the_time_and_the_speedup() {
        assert_eq!(row(0.2, Some(1.1)).verdict(), Verdict::Pass);
        assert_eq!(row(0.4, Some(10.0)).verdict(), Verdict::Fail, "too slow");
        assert_eq!(row(0.2, Some(0.5)).verdict(), Verdict::Fail, "only 2.5×");
        assert_eq!(row(0.2, None).verdict(), Verdict::Pass, "time only");
        assert_eq!(row(0.31, None).verdict(), Verdict::Fail);
        assert_eq!(row(0.25, Some(1.0)).speedup(), Some(4.0));
    }

    #[test]
    fn agreement_is_half_a_unit_in_the_last_digit() {
        assert!(agree_to_significant_digits(0.243, 0.2434, 3));
        assert!(agree_to_significant_digits(0.24349, 0.24351, 3));
        assert!(!agree_to_significant_digits(4.414, 4.42, 3));
        assert!(agree_to_significant_digits(20.04, 20.0, 3));
        assert!(!agree_to_significant_digits(20.06, 20.0, 3));
        assert!(agree_to_significant_digits(0.0, 0.0, 3));
        assert!(!agree_to_significant_digits(f64::NAN, f64::NAN, 3));
    }

    #[test]
    fn significant_digits_for_display() {
        assert_eq!(significant(0.243_412, 3), "0.243");
        assert_eq!(significant(20.0437, 3), "20.0");
        assert_eq!(significant(4.4139, 4), "4.414");
        assert_eq!(significant(1234.5, 3), "1234");
    }

    #[test]
    fn tables_are_aligned_markdown() {
        let table = markdown_table(&["op", "s"], &[vec!["fit".into(), "0.25".into()]]);
        assert_eq!(table, "| op  | s    |\n| --- | ---- |\n| fit | 0.25 |\n");
    }

    #[test]
    fn the_closing_line_counts_each_verdict() {
        let all = [Verdict::Pass, Verdict::Fail, Verdict::Pass];
        assert_eq!(
            closing_line("predictive", &all),
            "predictive: 2 passed, 1 failed"
        );
        let skipped = [Verdict::Pass, Verdict::Skipped];
        assert_eq!(
            closing_line("predictive", &skipped),
            "predictive: 1 passed, 0 failed, 1 skipped"
        );
    }
}
