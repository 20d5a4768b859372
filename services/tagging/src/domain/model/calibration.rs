//! Calibration table for a fitted BG/NBD model: customers grouped by calibration-period
//! repeat visits `x` (0, 1, …, `last_bucket`+), mean predicted visits in a holdout period
//! (eq. 10) against mean actual visits, as in FHL 2005 §5 (Figure 4). The service shows it
//! to HQ before predictive tags go live and uses it to tell a fit that tracks from one that
//! does not.

use super::{BgNbdParams, CustomerSummary, ModelError, RfmSummary};

/// A customer's calibration summary and the visits they actually made in the holdout period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HoldoutObservation {
    pub calibration: RfmSummary,
    pub holdout_visits: u32,
}

impl<K> From<&CustomerSummary<K>> for HoldoutObservation {
    fn from(summary: &CustomerSummary<K>) -> Self {
        HoldoutObservation {
            calibration: summary.calibration,
            holdout_visits: summary.holdout_visits,
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationRow {
    /// Calibration-period repeat visits of the group.
    pub calibration_visits: u32,
    /// True for the last row, which holds every customer with at least `calibration_visits`.
    pub open_ended: bool,
    pub customers: usize,
    pub actual_mean_visits: f64,
    pub predicted_mean_visits: f64,
}

/// Groups customers by `min(x, last_bucket)` and compares mean predicted holdout visits over
/// `holdout_length` (the model's time unit) with the actual means. Empty groups are omitted.
pub fn calibration_table(
    params: &BgNbdParams,
    customers: &[HoldoutObservation],
    holdout_length: f64,
    last_bucket: u32,
) -> Result<Vec<CalibrationRow>, ModelError> {
    let buckets = last_bucket as usize + 1;
    let mut counts = vec![0usize; buckets];
    let mut actual = vec![0.0; buckets];
    let mut predicted = vec![0.0; buckets];
    for customer in customers {
        let bucket = customer.calibration.x.min(last_bucket) as usize;
        counts[bucket] += 1;
        actual[bucket] += f64::from(customer.holdout_visits);
        predicted[bucket] += params.expected_visits(holdout_length, &customer.calibration)?;
    }
    Ok((0..buckets)
        .filter(|&bucket| counts[bucket] > 0)
        .map(|bucket| CalibrationRow {
            calibration_visits: bucket as u32,
            open_ended: bucket == buckets - 1,
            customers: counts[bucket],
            actual_mean_visits: actual[bucket] / counts[bucket] as f64,
            predicted_mean_visits: predicted[bucket] / counts[bucket] as f64,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observation(x: u32, holdout_visits: u32) -> HoldoutObservation {
        let t_x = if x == 0 { 0.0 } else { 30.0 };
        HoldoutObservation {
            calibration: RfmSummary {
                x,
                t_x,
                t_cal: 38.0,
                monetary_mean_minor: 0.0,
            },
            holdout_visits,
        }
    }

    #[test]
    fn groups_by_frequency_with_an_open_last_bucket() {
        let params = BgNbdParams {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        };
        let data = [
            observation(0, 0),
            observation(0, 2),
            observation(2, 1),
            observation(9, 4),
            observation(12, 6),
        ];
        let table = calibration_table(&params, &data, 39.0, 7).unwrap_or_default();
        let shape: Vec<_> = table
            .iter()
            .map(|r| (r.calibration_visits, r.open_ended, r.customers))
            .collect();
        assert_eq!(shape, vec![(0, false, 2), (2, false, 1), (7, true, 2)]);
        assert_eq!(table[0].actual_mean_visits, 1.0);
        assert_eq!(table[2].actual_mean_visits, 5.0);
        // Predictions rise with calibration frequency for equally recent customers.
        assert!(table[0].predicted_mean_visits < table[1].predicted_mean_visits);
        assert!(table[1].predicted_mean_visits < table[2].predicted_mean_visits);
    }
}
