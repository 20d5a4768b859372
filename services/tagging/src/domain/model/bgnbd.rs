//! BG/NBD predictions for one customer (Fader, Hardie & Lee 2005): P(alive), expected visits
//! of a known customer over the next `t` (eq. 10) and of a new customer (eq. 7).
//!
//! Eq. 10 contains `₂F₁(r+x, b+x; a+b+x−1; z)` with `z = t/(α+T+t)`, multiplied by
//! `(1−z)^{r+x}`. For a customer with hundreds of visits the series terms grow like
//! `(xz)^k/k!` before they shrink and overflow, while the power underflows. Euler's
//! transformation `₂F₁(A,B;C;z) = (1−z)^{C−A−B} ₂F₁(C−A, C−B; C; z)` (Abramowitz & Stegun
//! 15.3.3) turns the product into `(1−z)^{a−1} ₂F₁(a+b−1−r, a−1; a+b+x−1; z)`, whose upper
//! parameters do not grow with `x` and whose lower one does, so the series converges faster
//! the more visits a customer has. Splitting `(a−1)` out of the series also removes the
//! removable singularity of eq. 10 at `a = 1` (see [`expected_visits_numerator`]).

use super::special::logistic_of_neg;
use super::{ModelError, RfmSummary, finite};

/// Fitted BG/NBD parameters: purchase rates λ ~ Gamma(r, α) (α in the summary's time unit),
/// dropout probabilities p ~ Beta(a, b).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// What the churn-risk tags need for one customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VisitForecast {
    pub p_alive: f64,
    pub expected_visits: f64,
}

/// Terms of the hypergeometric series before giving up (z ≥ 0.9999, i.e. a horizon 10⁴
/// times longer than α + T, is the only way to get near this).
const MAX_SERIES_TERMS: usize = 200_000;

impl BgNbdParams {
    /// Parameters checked to be finite and positive.
    pub fn new(r: f64, alpha: f64, a: f64, b: f64) -> Result<Self, ModelError> {
        let params = BgNbdParams { r, alpha, a, b };
        params.validate()?;
        Ok(params)
    }

    fn validate(&self) -> Result<(), ModelError> {
        for (field, value) in [
            ("r", self.r),
            ("alpha", self.alpha),
            ("a", self.a),
            ("b", self.b),
        ] {
            if !(value > 0.0 && value.is_finite()) {
                return Err(ModelError::InvalidInput {
                    field,
                    value,
                    reason: "must be finite and positive",
                });
            }
        }
        Ok(())
    }

    /// `ln` of the odds of having dropped out: `ln[a/(b+x−1) · ((α+T)/(α+t_x))^{r+x}]` for
    /// `x > 0` (FHL note "Computing P(alive) Using the BG/NBD Model", eq. 1); `−∞` for `x = 0`
    /// (the model lets customers drop out only right after a repeat purchase).
    fn ln_dropout_odds(&self, rfm: &RfmSummary) -> f64 {
        if rfm.x == 0 {
            return f64::NEG_INFINITY;
        }
        let x = f64::from(rfm.x);
        let ln_age_ratio = ((rfm.t_cal - rfm.t_x) / (self.alpha + rfm.t_x)).ln_1p();
        self.a.ln() - (self.b + x - 1.0).ln() + (self.r + x) * ln_age_ratio
    }

    /// P(alive | x, t_x, T) ∈ [0, 1].
    pub fn p_alive(&self, rfm: &RfmSummary) -> Result<f64, ModelError> {
        self.validate()?;
        rfm.validate()?;
        finite(logistic_of_neg(self.ln_dropout_odds(rfm)), "p_alive")
    }

    /// E[Y(t) | x, t_x, T]: expected visits in the next `t` (eq. 10).
    pub fn expected_visits(&self, t: f64, rfm: &RfmSummary) -> Result<f64, ModelError> {
        Ok(self.forecast(t, rfm)?.expected_visits)
    }

    /// E[X(t)]: expected visits of a newly acquired customer in their first `t` (eq. 7), which
    /// is eq. 10 at `x = t_x = T = 0`.
    pub fn expected_visits_new(&self, t: f64) -> Result<f64, ModelError> {
        self.expected_visits(
            t,
            &RfmSummary {
                x: 0,
                t_x: 0.0,
                t_cal: 0.0,
                monetary_mean_minor: 0.0,
            },
        )
    }

    /// P(alive) and expected visits in the next `t`, sharing the dropout odds.
    pub fn forecast(&self, t: f64, rfm: &RfmSummary) -> Result<VisitForecast, ModelError> {
        self.validate()?;
        check_horizon(t)?;
        self.forecast_unchecked(t, rfm)
    }

    /// Scores many customers in one tight loop (no allocation per customer); `out` is cleared
    /// first. Stops at the first invalid summary, so nothing non-finite is ever returned.
    pub fn forecast_batch(
        &self,
        t: f64,
        customers: &[RfmSummary],
        out: &mut Vec<VisitForecast>,
    ) -> Result<(), ModelError> {
        self.validate()?;
        check_horizon(t)?;
        out.clear();
        out.reserve(customers.len());
        for rfm in customers {
            out.push(self.forecast_unchecked(t, rfm)?);
        }
        Ok(())
    }

    fn forecast_unchecked(&self, t: f64, rfm: &RfmSummary) -> Result<VisitForecast, ModelError> {
        rfm.validate()?;
        let p_alive = logistic_of_neg(self.ln_dropout_odds(rfm));
        // Eq. 10: numerator / (1 + dropout odds) = numerator × P(alive).
        let expected_visits = expected_visits_numerator(self, t, rfm)? * p_alive;
        Ok(VisitForecast {
            p_alive: finite(p_alive, "p_alive")?,
            expected_visits: finite(expected_visits.max(0.0), "expected_visits")?,
        })
    }
}

fn check_horizon(t: f64) -> Result<(), ModelError> {
    if t >= 0.0 && t.is_finite() {
        Ok(())
    } else {
        Err(ModelError::InvalidInput {
            field: "t",
            value: t,
            reason: "horizon must be finite and non-negative",
        })
    }
}

/// The numerator of eq. 10,
/// `(a+b+x−1)/(a−1) · [1 − (1−z)^{a−1} ₂F₁(A', a−1; c; z)]` with `A' = a+b−1−r`,
/// `c = a+b+x−1`, `z = t/(α+T+t)` (after Euler's transformation, module docs).
///
/// Writing `ε = a−1` and `₂F₁(A', ε; c; z) = 1 + ε·S` (every series term carries the factor
/// `(ε)_k = ε·(1+ε)_{k−1}`), the bracket divided by `ε` is
/// `−expm1(ε·ln(1−z))/ε − (1−z)^ε·S`, which is finite at `ε = 0` (limit `−ln(1−z)`).
/// `c·S = Σ_{k≥1} u_k` with `u_1 = A'z` and
/// `u_{k+1} = u_k (A'+k)(ε+k) z / ((c+k)(k+1))`, so `c` cancels too (`c > −1` always).
fn expected_visits_numerator(p: &BgNbdParams, t: f64, rfm: &RfmSummary) -> Result<f64, ModelError> {
    if t == 0.0 {
        return Ok(0.0);
    }
    let x = f64::from(rfm.x);
    let epsilon = p.a - 1.0;
    let c = p.a + p.b + x - 1.0;
    let upper = p.a + p.b - 1.0 - p.r;
    let age = p.alpha + rfm.t_cal;
    let z = t / (age + t);
    let ln_one_minus_z = -(t / age).ln_1p();
    let series = series_c_times_s(upper, epsilon, c, z)?;
    let scaled = epsilon * ln_one_minus_z;
    let survival_part = if epsilon.abs() < 1e-12 {
        -ln_one_minus_z
    } else {
        -scaled.exp_m1() / epsilon
    };
    finite(c * survival_part - scaled.exp() * series, "expected_visits")
}

/// `Σ_{k≥1} u_k` of [`expected_visits_numerator`], summed until the terms are past their
/// peak and below double precision of the sum.
fn series_c_times_s(upper: f64, epsilon: f64, c: f64, z: f64) -> Result<f64, ModelError> {
    let mut term = upper * z;
    let mut sum = term;
    for k in 1..MAX_SERIES_TERMS {
        let k = k as f64;
        let ratio = (upper + k) * (epsilon + k) * z / ((c + k) * (k + 1.0));
        term *= ratio;
        sum += term;
        if term == 0.0 || (ratio.abs() < 1.0 && term.abs() <= 1e-17 * sum.abs()) {
            return finite(sum, "hypergeometric series");
        }
    }
    Err(ModelError::SeriesDidNotConverge {
        terms: MAX_SERIES_TERMS,
        z,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The CDNOW fit in weeks (FHL 2005 §5).
    const CDNOW: BgNbdParams = BgNbdParams {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };

    fn rfm(x: u32, t_x: f64, t_cal: f64) -> RfmSummary {
        RfmSummary {
            x,
            t_x,
            t_cal,
            monetary_mean_minor: 0.0,
        }
    }

    #[test]
    fn matches_eq_10_evaluated_with_mpmath() {
        // Reference values: eq. 10 with mpmath.hyp2f1 at 50 digits (no transformation).
        let cases = [
            // FHL 2005 §5 quote 1.226 for this customer over the next 39 weeks.
            (CDNOW, 39.0, rfm(2, 30.43, 38.86), 1.226_028_174_767_144),
            (CDNOW, 39.0, rfm(0, 0.0, 38.86), 0.195_098_052_011_262_6),
            (CDNOW, 10.0, rfm(7, 35.0, 38.0), 1.372_355_297_840_054),
            (
                BgNbdParams {
                    r: 2.1,
                    alpha: 30.0,
                    a: 1.8,
                    b: 0.6,
                },
                30.0,
                rfm(25, 300.0, 320.0),
                1.582_551_128_150_847,
            ),
            // a = 1 + 1e-40 in mpmath: the removable singularity.
            (
                BgNbdParams {
                    r: 0.5,
                    alpha: 12.0,
                    a: 1.0,
                    b: 3.0,
                },
                30.0,
                rfm(3, 40.0, 90.0),
                0.302_958_353_114_698_3,
            ),
            (
                BgNbdParams {
                    r: 1.5,
                    alpha: 20.0,
                    a: 0.7,
                    b: 4.0,
                },
                365.0,
                rfm(500, 700.0, 730.0),
                1.951_510_067_493_601e-4,
            ),
            // E[X(78)] of a new customer (eq. 7) is eq. 10 at x = t_x = T = 0.
            (CDNOW, 78.0, rfm(0, 0.0, 0.0), 1.860_519_057_942_769),
        ];
        for (params, t, customer, reference) in cases {
            let got = params.expected_visits(t, &customer).unwrap_or(f64::NAN);
            assert!(
                (got - reference).abs() <= 1e-12 * reference,
                "{params:?} {customer:?}: {got} vs {reference}"
            );
        }
        let new = CDNOW.expected_visits_new(78.0).unwrap_or(f64::NAN);
        assert!((new - 1.860_519_057_942_769).abs() < 1e-12);
    }

    #[test]
    fn p_alive_is_one_without_repeats_and_falls_with_silence() {
        assert_eq!(CDNOW.p_alive(&rfm(0, 0.0, 38.0)), Ok(1.0));
        let recent = CDNOW.p_alive(&rfm(5, 37.0, 38.0)).unwrap_or(f64::NAN);
        let silent = CDNOW.p_alive(&rfm(5, 5.0, 38.0)).unwrap_or(f64::NAN);
        assert!(
            recent > silent && silent > 0.0 && recent < 1.0,
            "{recent} {silent}"
        );
    }

    #[test]
    fn stays_finite_for_customers_with_many_visits() {
        let params = BgNbdParams {
            r: 1.5,
            alpha: 20.0,
            a: 0.7,
            b: 4.0,
        };
        for x in [500, 5_000, 1_000_000] {
            let f = params
                .forecast(365.0, &rfm(x, 730.0, 730.0))
                .unwrap_or(VisitForecast {
                    p_alive: f64::NAN,
                    expected_visits: f64::NAN,
                });
            assert!(
                f.p_alive.is_finite() && f.expected_visits.is_finite(),
                "x = {x}: {f:?}"
            );
            // A customer who visited x times in 730 days keeps roughly that pace.
            let pace = f64::from(x) / 730.0 * 365.0;
            assert!(
                f.expected_visits > 0.5 * pace && f.expected_visits < 1.5 * pace,
                "x = {x}: {f:?}"
            );
        }
        // Silent for a long time after 500 visits: certainly gone, not NaN.
        let gone = params.forecast(30.0, &rfm(500, 100.0, 730.0));
        assert!(
            matches!(gone, Ok(VisitForecast { p_alive, expected_visits }) if p_alive < 1e-100 && expected_visits < 1e-100)
        );
    }

    #[test]
    fn is_continuous_across_a_equal_to_one() {
        let at = |a: f64| {
            BgNbdParams {
                r: 0.5,
                alpha: 12.0,
                a,
                b: 3.0,
            }
            .expected_visits(30.0, &rfm(3, 40.0, 90.0))
            .unwrap_or(f64::NAN)
        };
        let (below, exact, above) = (at(1.0 - 1e-7), at(1.0), at(1.0 + 1e-7));
        assert!(
            exact.is_finite() && (below - exact).abs() < 1e-6 && (above - exact).abs() < 1e-6,
            "{below} {exact} {above}"
        );
    }

    #[test]
    fn rejects_bad_inputs() {
        assert!(BgNbdParams::new(0.0, 1.0, 1.0, 1.0).is_err());
        assert!(BgNbdParams::new(1.0, f64::INFINITY, 1.0, 1.0).is_err());
        assert!(CDNOW.expected_visits(-1.0, &rfm(1, 1.0, 2.0)).is_err());
        assert!(CDNOW.expected_visits(f64::NAN, &rfm(1, 1.0, 2.0)).is_err());
        assert!(CDNOW.p_alive(&rfm(1, 3.0, 2.0)).is_err());
        let mut out = Vec::new();
        assert!(
            CDNOW
                .forecast_batch(1.0, &[rfm(1, 1.0, 2.0), rfm(1, 3.0, 2.0)], &mut out)
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn forecasts_are_probabilities_and_monotone_in_the_horizon(
            r in 0.01f64..20.0, alpha in 0.1f64..200.0, a in 0.05f64..20.0, b in 0.05f64..20.0,
            x in 0u32..300, t_cal in 0.0f64..800.0, recency in 0.0f64..1.0, t in 0.0f64..400.0,
        ) {
            let params = BgNbdParams { r, alpha, a, b };
            let t_x = if x == 0 { 0.0 } else { recency * t_cal };
            let customer = rfm(x, t_x, t_cal);
            let now = params.forecast(t, &customer);
            let later = params.forecast(t + 1.0, &customer);
            prop_assert!(now.is_ok() && later.is_ok(), "{:?} {:?}", now, later);
            if let (Ok(now), Ok(later)) = (now, later) {
                prop_assert!((0.0..=1.0).contains(&now.p_alive));
                prop_assert!(now.expected_visits >= 0.0);
                prop_assert!(later.expected_visits >= now.expected_visits * (1.0 - 1e-9), "{:?} {:?}", now, later);
            }
        }
    }
}
