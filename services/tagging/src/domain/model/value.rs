//! Customer value over a horizon: BG/NBD expected visits × Gamma-Gamma expected mean spend,
//! optionally discounted per period. Multiplying the two is what FHL 2005 JMR ("RFM and
//! CLV") do, and it rests on spend being independent of visit frequency, as the Gamma-Gamma
//! model assumes. The figure is in the currency unit the spend model was fitted in.

use super::{BgNbdParams, GammaGammaParams, ModelError, RfmSummary, SpendObservation, finite};

/// Discounting periods per horizon; more is a unit mistake (a 1-day period over 27 years).
const MAX_VALUE_PERIODS: f64 = 10_000.0;

/// How [`customer_value`] discounts future spend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValueHorizon {
    /// Horizon in the BG/NBD time unit.
    pub horizon: f64,
    /// Length of one discounting period in the same unit (e.g. 30 days).
    pub period: f64,
    /// Discount rate per period (0 = undiscounted).
    pub discount_rate: f64,
}

/// Expected spend of a customer over a horizon: expected visits × expected mean spend, the
/// visits of each period discounted by `(1+d)^{−k}` at the end of period `k` (the discrete
/// scheme of `lifetimes`' `customer_lifetime_value`; the closed-form continuous discounting
/// of FHL 2005 JMR is not implemented). With `discount_rate = 0` this is exactly
/// E[Y(horizon)] × E[M]. A final partial period counts as a full one for discounting.
pub fn customer_value(
    visits: &BgNbdParams,
    spend: &GammaGammaParams,
    rfm: &RfmSummary,
    horizon: &ValueHorizon,
) -> Result<f64, ModelError> {
    let ValueHorizon {
        horizon: h,
        period,
        discount_rate,
    } = *horizon;
    if !(period > 0.0 && period.is_finite()) {
        return Err(ModelError::InvalidInput {
            field: "period",
            value: period,
            reason: "must be finite and positive",
        });
    }
    if !(discount_rate > -1.0 && discount_rate.is_finite()) {
        return Err(ModelError::InvalidInput {
            field: "discount_rate",
            value: discount_rate,
            reason: "must be finite and above -1",
        });
    }
    let mean_spend = spend.expected_mean_spend(&SpendObservation::from(rfm))?;
    let total_visits = visits.expected_visits(h, rfm)?;
    if discount_rate == 0.0 {
        return finite(total_visits * mean_spend, "customer value");
    }
    let periods = (h / period).ceil();
    if periods > MAX_VALUE_PERIODS {
        return Err(ModelError::InvalidInput {
            field: "period",
            value: period,
            reason: "more than 10,000 periods in the horizon",
        });
    }
    let periods = periods as u64;
    let mut discounted_visits = 0.0;
    let mut previous = 0.0;
    for k in 1..=periods {
        let until = (k as f64 * period).min(h);
        let cumulative = visits.expected_visits(until, rfm)?;
        discounted_visits += (cumulative - previous) / (1.0 + discount_rate).powf(k as f64);
        previous = cumulative;
    }
    finite(discounted_visits * mean_spend, "customer value")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CDNOW figures (weeks, dollars).
    const CDNOW: GammaGammaParams = GammaGammaParams {
        p: 6.25,
        q: 3.74,
        gamma: 15.44,
    };
    const VISITS: BgNbdParams = BgNbdParams {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };
    #[test]
    fn customer_value_is_visits_times_spend_and_discounting_lowers_it() {
        let rfm = RfmSummary {
            x: 4,
            t_x: 30.0,
            t_cal: 38.0,
            monetary_mean_minor: 40.0,
        };
        let undiscounted = ValueHorizon {
            horizon: 52.0,
            period: 4.0,
            discount_rate: 0.0,
        };
        let value = customer_value(&VISITS, &CDNOW, &rfm, &undiscounted).unwrap_or(f64::NAN);
        let visits = VISITS.expected_visits(52.0, &rfm).unwrap_or(f64::NAN);
        let mean = CDNOW
            .expected_mean_spend(&SpendObservation::from(&rfm))
            .unwrap_or(f64::NAN);
        assert!((value - visits * mean).abs() < 1e-9);
        let discounted = ValueHorizon {
            discount_rate: 0.01,
            ..undiscounted
        };
        let present = customer_value(&VISITS, &CDNOW, &rfm, &discounted).unwrap_or(f64::NAN);
        // Between the value discounted over the whole horizon (13 periods) and undiscounted.
        assert!(
            present < value && present > value / 1.01f64.powi(13),
            "{present} {value}"
        );
        let bad = ValueHorizon {
            period: 0.0,
            ..discounted
        };
        assert!(customer_value(&VISITS, &CDNOW, &rfm, &bad).is_err());
    }
}
