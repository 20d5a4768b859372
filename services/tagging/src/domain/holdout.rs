//! The calibration table of a chain's model report (FHL 2005 §5): BG/NBD fitted on the
//! visits up to a holdout start, its predicted visits in the holdout against the actual
//! ones, by calibration-period repeat visits. The holdout is the last quarter of the
//! chain's history, 7 to 90 days.

use super::model::{
    CalibrationRow, FitOptions, HoldoutObservation, RfmSummary, TimeUnit, Visit, bgnbd_fit,
    calibration_table, summarize_visits,
};
use super::predict::DayVisit;
use super::rule::{EpochDay, date_of};

/// Calibration buckets 0…7+ (FHL 2005 Figure 4 style).
pub const CALIBRATION_LAST_BUCKET: u32 = 7;
/// A calibration holdout needs at least this much history (days).
pub const MIN_CALIBRATION_SPAN_DAYS: i32 = 28;

/// The calibration table: fit on visits up to a holdout start, predict the holdout. The
/// holdout is a quarter of the history, 7 to 90 days.
pub fn holdout_calibration(
    histories: &[&[DayVisit]],
    today: EpochDay,
) -> (Vec<CalibrationRow>, String) {
    let first = histories
        .iter()
        .flat_map(|h| h.iter().map(|v| v.day))
        .min()
        .unwrap_or(today);
    let span = today - first;
    if span < MIN_CALIBRATION_SPAN_DAYS {
        return (
            Vec::new(),
            format!(
                "calibration skipped: {span} days of history, at least {MIN_CALIBRATION_SPAN_DAYS} needed"
            ),
        );
    }
    let holdout_days = (span / 4).clamp(7, 90);
    let (Some(end), Some(holdout_end)) = (date_of(today - holdout_days), date_of(today)) else {
        return (Vec::new(), "calibration skipped: dates out of range".into());
    };
    let visits: Vec<Visit<usize>> = histories
        .iter()
        .enumerate()
        .flat_map(|(i, h)| {
            h.iter().filter_map(move |v| {
                Some(Visit {
                    customer: i,
                    date: date_of(v.day)?,
                    spend_minor: v.amount_fen,
                })
            })
        })
        .collect();
    let result = summarize_visits(&visits, end, Some(holdout_end), TimeUnit::Days).and_then(|s| {
        let calibration: Vec<RfmSummary> = s.iter().map(|c| c.calibration).collect();
        let fit = bgnbd_fit::fit(&calibration, &FitOptions::default())?;
        let holdout: Vec<HoldoutObservation> = s.iter().map(HoldoutObservation::from).collect();
        calibration_table(
            &fit.params,
            &holdout,
            f64::from(holdout_days),
            CALIBRATION_LAST_BUCKET,
        )
    });
    match result {
        Ok(rows) => (
            rows,
            format!("calibration holdout: last {holdout_days} days"),
        ),
        Err(e) => (Vec::new(), format!("calibration skipped: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_histories_skip_the_table_and_say_why() {
        let visits = [DayVisit {
            day: 100,
            amount_fen: 1,
        }];
        let (rows, note) = holdout_calibration(&[&visits], 120);
        assert!(rows.is_empty());
        assert_eq!(
            note,
            "calibration skipped: 20 days of history, at least 28 needed"
        );
    }

    #[test]
    fn too_few_customers_before_the_holdout_is_a_note_not_an_error() {
        let visits = [
            DayVisit {
                day: 0,
                amount_fen: 1,
            },
            DayVisit {
                day: 50,
                amount_fen: 1,
            },
        ];
        let (rows, note) = holdout_calibration(&[&visits], 400);
        assert!(rows.is_empty());
        assert!(
            note.starts_with("calibration skipped: too little history"),
            "{note}"
        );
    }
}
