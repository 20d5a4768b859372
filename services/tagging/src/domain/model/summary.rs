//! Visits → per-customer recency/frequency/monetary summary `(x, t_x, T, m̄)`, the input of
//! every model here. Owns the counting conventions (FHL 2005 §2; CDNOW README):
//! - several orders by one customer on one store-local calendar day are ONE visit (spend summed);
//! - `x` counts repeat visits (visit days after the first one) up to the calibration end;
//! - `t_x` is first visit → last visit, `T` (`t_cal`) is first visit → calibration end
//!   (inclusive), both in a [`TimeUnit`] (days for restaurants, weeks for CDNOW);
//! - `m̄` is the mean spend of the repeat visits (the first one is excluded because it is not
//!   a draw from the repeat-spend process), 0 when `x = 0`.
//!
//! Callers convert timestamps to store-local dates before calling (chrono-tz at the edge).

use chrono::NaiveDate;

use super::ModelError;

/// The time unit of `t_x`, `T` and forecast horizons. The fitted `α` is in this unit too, so
/// parameters fitted in one unit must only score summaries in the same unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Days,
    Weeks,
}

impl TimeUnit {
    /// Length of one unit in days.
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Days => 1.0,
            TimeUnit::Weeks => 7.0,
        }
    }

    /// A whole number of days expressed in this unit.
    pub fn from_days(self, days: i64) -> f64 {
        days as f64 / self.days()
    }
}

/// One order (or visit) of a customer: store-local date and spend in minor units (fen, cents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit<K> {
    pub customer: K,
    pub date: NaiveDate,
    pub spend_minor: i64,
}

/// Calibration-period summary of one customer (FHL 2005 notation: `x`, `t_x`, `T`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfmSummary {
    /// Repeat visits in the calibration period.
    pub x: u32,
    /// Time of the last visit, from the first visit (0 when `x = 0`).
    pub t_x: f64,
    /// Length of the observation period `T`, from the first visit to the calibration end.
    pub t_cal: f64,
    /// Mean spend of the repeat visits, minor units; 0 when `x = 0`.
    pub monetary_mean_minor: f64,
}

impl RfmSummary {
    /// A validated summary: `0 ≤ t_x ≤ T`, finite, `t_x = 0` when `x = 0`.
    pub fn new(x: u32, t_x: f64, t_cal: f64, monetary_mean_minor: f64) -> Result<Self, ModelError> {
        let summary = RfmSummary {
            x,
            t_x,
            t_cal,
            monetary_mean_minor,
        };
        summary.validate()?;
        Ok(summary)
    }

    /// Checks the invariants the likelihood relies on; summaries built with a struct literal
    /// are checked again here by every fit and prediction.
    pub fn validate(&self) -> Result<(), ModelError> {
        let invalid = |field, value, reason| {
            Err(ModelError::InvalidInput {
                field,
                value,
                reason,
            })
        };
        if self.t_cal.is_nan() || self.t_cal < 0.0 || self.t_cal.is_infinite() {
            return invalid("t_cal", self.t_cal, "must be finite and non-negative");
        }
        if !(self.t_x >= 0.0 && self.t_x <= self.t_cal) {
            return invalid("t_x", self.t_x, "must lie in [0, t_cal]");
        }
        if self.x == 0 && self.t_x != 0.0 {
            return invalid("t_x", self.t_x, "must be 0 when x = 0");
        }
        if !self.monetary_mean_minor.is_finite() {
            return invalid(
                "monetary_mean_minor",
                self.monetary_mean_minor,
                "must be finite",
            );
        }
        Ok(())
    }
}

/// A customer's calibration summary and the visits (days) they made in the holdout period.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerSummary<K> {
    pub customer: K,
    pub calibration: RfmSummary,
    /// Visit days in `(calibration_end, holdout_end]`; 0 without a holdout period.
    pub holdout_visits: u32,
}

/// Summarises `visits` per customer, sorted by customer. Customers whose first visit falls
/// after `calibration_end` are not in the calibration cohort and are left out. With
/// `holdout_end`, visit days in `(calibration_end, holdout_end]` are counted for calibration
/// tables ([`super::calibration`]); later visits are ignored.
pub fn summarize_visits<K: Ord + Clone>(
    visits: &[Visit<K>],
    calibration_end: NaiveDate,
    holdout_end: Option<NaiveDate>,
    unit: TimeUnit,
) -> Result<Vec<CustomerSummary<K>>, ModelError> {
    let last_counted = holdout_end.unwrap_or(calibration_end);
    if last_counted < calibration_end {
        let days_before = (calibration_end - last_counted).num_days() as f64;
        return Err(ModelError::InvalidInput {
            field: "holdout_end",
            value: -days_before,
            reason: "must not be before calibration_end (value: days after it)",
        });
    }
    let mut ordered: Vec<&Visit<K>> = visits.iter().filter(|v| v.date <= last_counted).collect();
    ordered.sort_unstable_by(|l, r| l.customer.cmp(&r.customer).then(l.date.cmp(&r.date)));
    let summaries = ordered
        .chunk_by(|l, r| l.customer == r.customer)
        .filter_map(|orders| summarize_customer(orders, calibration_end, unit))
        .collect();
    Ok(summaries)
}

/// One customer's orders, sorted by date. `None` when the first visit is after calibration.
fn summarize_customer<K: Clone>(
    orders: &[&Visit<K>],
    calibration_end: NaiveDate,
    unit: TimeUnit,
) -> Option<CustomerSummary<K>> {
    let first = orders.first()?;
    if first.date > calibration_end {
        return None;
    }
    let mut repeat_days: u32 = 0;
    let mut repeat_spend_minor: i128 = 0;
    let mut last_calibration_day = first.date;
    let mut holdout_visits: u32 = 0;
    // Same-day orders are one visit (CDNOW README; "several orders on one day are one visit").
    for day in orders.chunk_by(|l, r| l.date == r.date) {
        let date = day[0].date;
        if date == first.date {
            continue;
        }
        if date <= calibration_end {
            repeat_days += 1;
            repeat_spend_minor += day.iter().map(|v| i128::from(v.spend_minor)).sum::<i128>();
            last_calibration_day = date;
        } else {
            holdout_visits += 1;
        }
    }
    let monetary_mean_minor = if repeat_days == 0 {
        0.0
    } else {
        repeat_spend_minor as f64 / f64::from(repeat_days)
    };
    Some(CustomerSummary {
        customer: first.customer.clone(),
        calibration: RfmSummary {
            x: repeat_days,
            t_x: unit.from_days((last_calibration_day - first.date).num_days()),
            t_cal: unit.from_days((calibration_end - first.date).num_days()),
            monetary_mean_minor,
        },
        holdout_visits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 1, 1)
            .and_then(|s| s.checked_add_days(chrono::Days::new(u64::from(d))))
            .unwrap_or_default()
    }

    fn visit(customer: u32, d: u32, spend_minor: i64) -> Visit<u32> {
        Visit {
            customer,
            date: day(d),
            spend_minor,
        }
    }

    #[test]
    fn merges_same_day_orders_and_excludes_the_first_visit_from_spend() {
        let visits = [
            visit(7, 0, 900),
            visit(7, 14, 1000),
            visit(7, 14, 500),
            visit(7, 28, 3000),
        ];
        let summaries =
            summarize_visits(&visits, day(35), None, TimeUnit::Weeks).unwrap_or_default();
        assert_eq!(summaries.len(), 1);
        let rfm = summaries[0].calibration;
        assert_eq!(rfm.x, 2);
        assert_eq!(rfm.t_x, 4.0);
        assert_eq!(rfm.t_cal, 5.0);
        assert_eq!(rfm.monetary_mean_minor, 2250.0);
    }

    #[test]
    fn calibration_end_is_inclusive_and_holdout_is_counted_separately() {
        let visits = [
            visit(1, 0, 100),
            visit(1, 10, 100),
            visit(1, 11, 100),
            visit(1, 11, 5),
            visit(1, 30, 100),
        ];
        let summaries =
            summarize_visits(&visits, day(10), Some(day(20)), TimeUnit::Days).unwrap_or_default();
        assert_eq!(summaries[0].calibration.x, 1);
        assert_eq!(summaries[0].calibration.t_x, 10.0);
        assert_eq!(
            summaries[0].holdout_visits, 1,
            "day 11 counts once; day 30 is after the holdout"
        );
    }

    #[test]
    fn customers_first_seen_after_calibration_are_left_out() {
        let visits = [visit(1, 0, 100), visit(2, 12, 100)];
        let summaries =
            summarize_visits(&visits, day(10), Some(day(20)), TimeUnit::Days).unwrap_or_default();
        assert_eq!(
            summaries.iter().map(|s| s.customer).collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(summaries[0].calibration.x, 0);
        assert_eq!(summaries[0].calibration.monetary_mean_minor, 0.0);
    }

    #[test]
    fn rejects_a_holdout_that_ends_before_calibration() {
        let err = summarize_visits(&[visit(1, 0, 1)], day(10), Some(day(5)), TimeUnit::Days);
        assert!(matches!(
            err,
            Err(ModelError::InvalidInput {
                field: "holdout_end",
                ..
            })
        ));
    }

    #[test]
    fn validate_rejects_recency_beyond_age() {
        assert!(RfmSummary::new(2, 5.0, 4.0, 0.0).is_err());
        assert!(RfmSummary::new(0, 1.0, 4.0, 0.0).is_err());
        assert!(RfmSummary::new(0, 0.0, f64::NAN, 0.0).is_err());
        assert!(RfmSummary::new(3, 4.0, 4.0, 12.5).is_ok());
    }

    proptest! {
        #[test]
        fn summaries_satisfy_the_model_invariants(
            orders in proptest::collection::vec((0u32..5, 0u32..60, -100i64..10_000), 0..80),
            end in 0u32..60,
        ) {
            let visits: Vec<_> = orders.iter().map(|&(c, d, s)| visit(c, d, s)).collect();
            let summaries = summarize_visits(&visits, day(end), None, TimeUnit::Days).unwrap_or_default();
            for s in &summaries {
                prop_assert!(s.calibration.validate().is_ok(), "{:?}", s);
                let mut days: Vec<u32> = orders.iter().filter(|o| o.0 == s.customer && o.1 <= end).map(|o| o.1).collect();
                days.sort_unstable();
                days.dedup();
                prop_assert_eq!(s.calibration.x as usize, days.len() - 1);
                prop_assert_eq!(s.calibration.t_cal, f64::from(end - days[0]));
            }
            let cohort = orders.iter().filter(|o| o.1 <= end).map(|o| o.0).collect::<std::collections::BTreeSet<_>>();
            prop_assert_eq!(summaries.len(), cohort.len());
        }
    }
}
