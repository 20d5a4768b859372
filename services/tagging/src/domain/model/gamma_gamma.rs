//! Gamma-Gamma model of spend per visit (Fader, Hardie & Lee 2005, JMR "RFM and CLV";
//! Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary Value"): a customer's visit spends
//! are Gamma(p, ν) around their own mean, and ν ~ Gamma(q, γ) across customers. Fitted on
//! repeat customers only (x > 0), from the mean repeat spend `z̄` of each; spend is assumed
//! independent of visit frequency (check the correlation before relying on it).
//!
//! Owns: the fit (note eq. 1, maximised in `(ln p, ln q, ln γ)` with analytic gradient) and
//! the conditional expected mean spend (note eq. 5). Customer value over a horizon, which
//! combines this with BG/NBD, is [`super::value`].

use super::optimize::{StopRule, minimize_bfgs};
use super::special::{digamma, ln_gamma};
use super::{ModelError, RfmSummary, finite};

/// Fitted spend parameters; `γ` is in the currency unit of the spends it was fitted on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGammaParams {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

/// One repeat customer's spend history: `x` repeat visits with mean spend `z̄`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpendObservation {
    pub repeat_visits: u32,
    pub mean_spend: f64,
}

impl From<&RfmSummary> for SpendObservation {
    fn from(rfm: &RfmSummary) -> Self {
        SpendObservation {
            repeat_visits: rfm.x,
            mean_spend: rfm.monetary_mean_minor,
        }
    }
}

/// Knobs of [`fit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpendFitOptions {
    pub max_iterations: usize,
    pub gradient_tolerance: f64,
    /// Fewer usable (x > 0, z̄ > 0) customers than this is "too little history".
    pub min_customers: usize,
    pub start: Option<GammaGammaParams>,
}

impl Default for SpendFitOptions {
    fn default() -> Self {
        SpendFitOptions {
            max_iterations: 200,
            gradient_tolerance: 1e-9,
            min_customers: 30,
            start: None,
        }
    }
}

/// A converged spend fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGammaFit {
    pub params: GammaGammaParams,
    pub log_likelihood: f64,
    pub iterations: usize,
    /// Customers used (x > 0 and z̄ > 0); the others carry no spend information.
    pub customers: usize,
}

/// Fits `(p, q, γ)` by maximum likelihood on the observations with `x > 0` and `z̄ > 0`.
pub fn fit(
    observations: &[SpendObservation],
    options: &SpendFitOptions,
) -> Result<GammaGammaFit, ModelError> {
    const MODEL: &str = "Gamma-Gamma";
    for obs in observations {
        if !obs.mean_spend.is_finite() {
            return Err(ModelError::InvalidInput {
                field: "mean_spend",
                value: obs.mean_spend,
                reason: "must be finite",
            });
        }
    }
    let usable: Vec<(f64, f64)> = observations
        .iter()
        .filter(|o| o.repeat_visits > 0 && o.mean_spend > 0.0)
        .map(|o| (f64::from(o.repeat_visits), o.mean_spend))
        .collect();
    if usable.len() < options.min_customers.max(1) {
        return Err(ModelError::TooLittleHistory {
            model: MODEL,
            customers: usable.len(),
            minimum: options.min_customers,
        });
    }
    let n = usable.len() as f64;
    let start = match options.start {
        Some(s)
            if [s.p, s.q, s.gamma]
                .iter()
                .all(|v| *v > 0.0 && v.is_finite()) =>
        {
            s
        }
        Some(s) => {
            return Err(ModelError::InvalidInput {
                field: "start",
                value: s.p,
                reason: "parameters must be finite and positive",
            });
        }
        // p = 1, q = 2 puts the population mean p·γ/(q−1) at γ: start γ at the mean spend.
        None => GammaGammaParams {
            p: 1.0,
            q: 2.0,
            gamma: usable.iter().map(|u| u.1).sum::<f64>() / n,
        },
    };
    let objective = |theta: &[f64; 3], grad: &mut [f64; 3]| {
        let params = GammaGammaParams {
            p: theta[0].exp(),
            q: theta[1].exp(),
            gamma: theta[2].exp(),
        };
        let ll = log_likelihood_with_gradient(&params, &usable, grad);
        let scale = [params.p, params.q, params.gamma];
        for (g, s) in grad.iter_mut().zip(scale) {
            *g *= -s / n;
        }
        -ll / n
    };
    let stop = StopRule {
        max_iterations: options.max_iterations,
        gradient_tolerance: options.gradient_tolerance,
    };
    let min = minimize_bfgs(
        objective,
        [start.p.ln(), start.q.ln(), start.gamma.ln()],
        stop,
    );
    if !min.converged {
        return Err(ModelError::DidNotConverge {
            model: MODEL,
            iterations: min.iterations,
            gradient_norm: min.gradient_norm,
        });
    }
    let [p, q, gamma] = min.point.map(f64::exp);
    Ok(GammaGammaFit {
        params: GammaGammaParams {
            p: finite(p, "p")?,
            q: finite(q, "q")?,
            gamma: finite(gamma, "gamma")?,
        },
        log_likelihood: finite(-min.value * n, "Gamma-Gamma log-likelihood")?,
        iterations: min.iterations,
        customers: usable.len(),
    })
}

/// Note eq. 1 summed over `(x, z̄)`:
/// `ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln γ + (px−1) ln z̄ + px ln x − (px+q) ln(γ + x z̄)`.
fn log_likelihood_with_gradient(
    params: &GammaGammaParams,
    usable: &[(f64, f64)],
    grad: &mut [f64; 3],
) -> f64 {
    let GammaGammaParams { p, q, gamma } = *params;
    let (ln_gamma_q, digamma_q, ln_gamma_param) = (ln_gamma(q), digamma(q), gamma.ln());
    let mut ll = 0.0;
    let mut g = [0.0; 3];
    for &(x, mean_spend) in usable {
        let px = p * x;
        let ln_spend = mean_spend.ln();
        let ln_total = (gamma + x * mean_spend).ln();
        let psi_pxq = digamma(px + q);
        ll += ln_gamma(px + q) - ln_gamma(px) - ln_gamma_q
            + q * ln_gamma_param
            + (px - 1.0) * ln_spend
            + px * x.ln()
            - (px + q) * ln_total;
        g[0] += x * (psi_pxq - digamma(px) + ln_spend + x.ln() - ln_total);
        g[1] += psi_pxq - digamma_q + ln_gamma_param - ln_total;
        g[2] += q / gamma - (px + q) / (gamma + x * mean_spend);
    }
    *grad = g;
    ll
}

impl GammaGammaParams {
    /// Population mean spend per visit `pγ/(q−1)`: what a new customer is expected to spend.
    pub fn population_mean_spend(&self) -> Result<f64, ModelError> {
        if self.q.is_nan() || self.q <= 1.0 {
            return Err(ModelError::MeanSpendUndefined { q: self.q });
        }
        finite(
            self.p * self.gamma / (self.q - 1.0),
            "population mean spend",
        )
    }

    /// E[M | p, q, γ, x, z̄] = p(γ + x z̄)/(px + q − 1) (note eq. 5): a weighted average of the
    /// population mean and the customer's own mean, so one expensive visit is shrunk. For
    /// `x = 0` it is the population mean.
    pub fn expected_mean_spend(&self, obs: &SpendObservation) -> Result<f64, ModelError> {
        let population = self.population_mean_spend()?;
        if obs.repeat_visits == 0 {
            return Ok(population);
        }
        if !(obs.mean_spend >= 0.0 && obs.mean_spend.is_finite()) {
            return Err(ModelError::InvalidInput {
                field: "mean_spend",
                value: obs.mean_spend,
                reason: "must be finite and non-negative",
            });
        }
        let x = f64::from(obs.repeat_visits);
        finite(
            self.p * (self.gamma + x * obs.mean_spend) / (self.p * x + self.q - 1.0),
            "expected mean spend",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fader & Hardie (2013) CDNOW figures, dollars.
    const CDNOW: GammaGammaParams = GammaGammaParams {
        p: 6.25,
        q: 3.74,
        gamma: 15.44,
    };

    fn spend(repeat_visits: u32, mean_spend: f64) -> SpendObservation {
        SpendObservation {
            repeat_visits,
            mean_spend,
        }
    }

    #[test]
    fn expected_spend_shrinks_towards_the_population_mean() {
        let population = CDNOW.population_mean_spend().unwrap_or(f64::NAN);
        assert!((population - 6.25 * 15.44 / 2.74).abs() < 1e-12);
        let once = CDNOW
            .expected_mean_spend(&spend(1, 200.0))
            .unwrap_or(f64::NAN);
        let often = CDNOW
            .expected_mean_spend(&spend(50, 200.0))
            .unwrap_or(f64::NAN);
        assert!(
            population < once && once < often && often < 200.0,
            "{population} {once} {often}"
        );
        assert_eq!(CDNOW.expected_mean_spend(&spend(0, 0.0)), Ok(population));
    }

    #[test]
    fn mean_spend_needs_q_above_one() {
        let heavy_tail = GammaGammaParams { q: 0.9, ..CDNOW };
        assert_eq!(
            heavy_tail.population_mean_spend(),
            Err(ModelError::MeanSpendUndefined { q: 0.9 })
        );
        assert!(heavy_tail.expected_mean_spend(&spend(3, 10.0)).is_err());
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let data = [(1.0, 12.5), (3.0, 40.0), (7.0, 22.0)];
        let mut grad = [0.0; 3];
        log_likelihood_with_gradient(&CDNOW, &data, &mut grad);
        let at = |i: usize, h: f64| {
            let mut v = [CDNOW.p, CDNOW.q, CDNOW.gamma];
            v[i] += h;
            let mut ignored = [0.0; 3];
            log_likelihood_with_gradient(
                &GammaGammaParams {
                    p: v[0],
                    q: v[1],
                    gamma: v[2],
                },
                &data,
                &mut ignored,
            )
        };
        for (i, analytic) in grad.iter().enumerate() {
            let numeric = (at(i, 1e-6) - at(i, -1e-6)) / 2e-6;
            assert!(
                (analytic - numeric).abs() < 1e-5 * (1.0 + numeric.abs()),
                "parameter {i}: {analytic} vs {numeric}"
            );
        }
    }

    #[test]
    fn too_little_history_counts_only_repeat_spenders() {
        let data: Vec<_> = (0..100)
            .map(|i| spend(i % 2, if i % 4 == 1 { 0.0 } else { 15.0 }))
            .collect();
        // 50 have x = 0, 25 of the others spent nothing: 25 usable.
        assert_eq!(
            fit(&data, &SpendFitOptions::default()),
            Err(ModelError::TooLittleHistory {
                model: "Gamma-Gamma",
                customers: 25,
                minimum: 30
            })
        );
        assert!(fit(&[spend(2, f64::NAN)], &SpendFitOptions::default()).is_err());
    }
}
