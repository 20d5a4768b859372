//! The per-customer summaries as the CSV that `lifetimes_bench.py` reads: lifetimes' own
//! column names (`frequency` = x, `recency` = t_x, `T`), times in days, spend in fen.
//! Rust's `f64` display is the shortest string that round-trips, so Python reads exactly the
//! numbers the Rust fit saw.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use maitre_tagging::domain::model::RfmSummary;

pub const HEADER: &str = "customer_id,frequency,recency,T,monetary_value";

/// Writes one row per summary, the row number as customer id.
pub fn write_summaries_csv(path: &Path, summaries: &[RfmSummary]) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::new(file);
    write_rows(&mut out, summaries)?;
    out.flush()
        .with_context(|| format!("writing {}", path.display()))
}

fn write_rows(out: &mut impl Write, summaries: &[RfmSummary]) -> std::io::Result<()> {
    writeln!(out, "{HEADER}")?;
    for (customer_id, s) in summaries.iter().enumerate() {
        writeln!(
            out,
            "{customer_id},{},{},{},{}",
            s.x, s.t_x, s.t_cal, s.monetary_mean_minor
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_lifetimes_columns_with_round_tripping_numbers() {
        let summaries = [
            RfmSummary {
                x: 0,
                t_x: 0.0,
                t_cal: 364.0,
                monetary_mean_minor: 0.0,
            },
            RfmSummary {
                x: 3,
                t_x: 41.0,
                t_cal: 120.0,
                monetary_mean_minor: 15_233.333_333_333_334,
            },
        ];
        let mut bytes = Vec::new();
        assert!(write_rows(&mut bytes, &summaries).is_ok());
        let text = String::from_utf8(bytes).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [HEADER, "0,0,0,364,0", "1,3,41,120,15233.333333333334"]
        );
        assert_eq!(
            lines[2]
                .rsplit(',')
                .next()
                .and_then(|v| v.parse::<f64>().ok()),
            Some(summaries[1].monetary_mean_minor)
        );
    }
}
