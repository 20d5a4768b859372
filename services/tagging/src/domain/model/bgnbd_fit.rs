//! Maximum-likelihood fit of the BG/NBD model per chain (FHL 2005 eq. 6), in log space.
//!
//! BFGS on `(ln r, ln α, ln a, ln b)` with the analytic gradient of
//! [`super::bgnbd_likelihood`], minimising the mean negative log-likelihood so the tolerances
//! mean the same for 200 customers and 200,000.

use super::bgnbd_likelihood::{Histories, Scratch};
use super::optimize::{StopRule, minimize_bfgs};
use super::{BgNbdParams, ModelError, RfmSummary, finite};

/// Knobs of [`fit`]. The defaults suit nightly per-chain refits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitOptions {
    pub max_iterations: usize,
    /// Largest gradient component of the mean negative log-likelihood (per customer, in log
    /// parameters) accepted as converged.
    pub gradient_tolerance: f64,
    /// Fewer customers than this is "too little history" (4 parameters need far more).
    pub min_customers: usize,
    /// Without repeat customers the purchase and dropout processes are not identified.
    pub min_repeat_customers: usize,
    /// Warm start, e.g. last night's parameters; `None` starts from moments of the data.
    pub start: Option<BgNbdParams>,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            max_iterations: 200,
            gradient_tolerance: 1e-9,
            min_customers: 50,
            min_repeat_customers: 10,
            start: None,
        }
    }
}

/// A converged fit. Non-convergence is an error, so a caller never stores unconverged
/// parameters by accident (it keeps the previous ones).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbdFit {
    pub params: BgNbdParams,
    /// Maximised log-likelihood (eq. 6 summed, no constants dropped).
    pub log_likelihood: f64,
    pub iterations: usize,
    pub customers: usize,
    /// Distinct `(x, t_x, T)` histories the likelihood actually evaluated.
    pub distinct_histories: usize,
}

/// Fits `(r, α, a, b)` by maximum likelihood.
pub fn fit(customers: &[RfmSummary], options: &FitOptions) -> Result<BgNbdFit, ModelError> {
    const MODEL: &str = "BG/NBD";
    for rfm in customers {
        rfm.validate()?;
    }
    if customers.len() < options.min_customers.max(1) {
        return Err(ModelError::TooLittleHistory {
            model: MODEL,
            customers: customers.len(),
            minimum: options.min_customers,
        });
    }
    let repeaters = customers.iter().filter(|c| c.x > 0).count();
    if repeaters < options.min_repeat_customers.max(1) {
        return Err(ModelError::TooFewRepeaters {
            model: MODEL,
            repeaters,
            minimum: options.min_repeat_customers,
        });
    }
    let histories = Histories::group(customers);
    let start = match options.start {
        Some(p) => BgNbdParams::new(p.r, p.alpha, p.a, p.b)?,
        None => moment_start(customers),
    };
    let stop = StopRule {
        max_iterations: options.max_iterations,
        gradient_tolerance: options.gradient_tolerance,
    };
    let mut scratch = Scratch::default();
    let n = customers.len() as f64;
    let objective = |theta: &[f64; 4], grad: &mut [f64; 4]| {
        let params = BgNbdParams {
            r: theta[0].exp(),
            alpha: theta[1].exp(),
            a: theta[2].exp(),
            b: theta[3].exp(),
        };
        let ll = histories.log_likelihood(&params, &mut scratch, Some(grad));
        // Minimise the mean negative log-likelihood: O(1) scale whatever the chain size.
        let scale = [params.r, params.alpha, params.a, params.b];
        for (g, s) in grad.iter_mut().zip(scale) {
            *g *= -s / n;
        }
        -ll / n
    };
    let start_theta = [start.r.ln(), start.alpha.ln(), start.a.ln(), start.b.ln()];
    let min = minimize_bfgs(objective, start_theta, stop);
    if !min.converged {
        return Err(ModelError::DidNotConverge {
            model: MODEL,
            iterations: min.iterations,
            gradient_norm: min.gradient_norm,
        });
    }
    let [r, alpha, a, b] = min.point.map(f64::exp);
    let params = BgNbdParams::new(r, alpha, a, b).map_err(|_| ModelError::NonFinite {
        quantity: "BG/NBD parameters",
    })?;
    Ok(BgNbdFit {
        params,
        log_likelihood: finite(-min.value * n, "BG/NBD log-likelihood")?,
        iterations: min.iterations,
        customers: customers.len(),
        distinct_histories: histories.groups.len(),
    })
}

/// The log-likelihood of `params` on `customers` (eq. 6 summed), e.g. to compare a stored fit
/// with tonight's data.
pub fn log_likelihood(params: &BgNbdParams, customers: &[RfmSummary]) -> Result<f64, ModelError> {
    let params = BgNbdParams::new(params.r, params.alpha, params.a, params.b)?;
    for rfm in customers {
        rfm.validate()?;
    }
    let ll = Histories::group(customers).log_likelihood(&params, &mut Scratch::default(), None);
    finite(ll, "BG/NBD log-likelihood")
}

/// Start where E[λ] = r/α matches the observed repeat rate, with r = 1 and a neutral Beta.
fn moment_start(customers: &[RfmSummary]) -> BgNbdParams {
    let n = customers.len() as f64;
    let mean_x = customers.iter().map(|c| f64::from(c.x)).sum::<f64>() / n;
    let mean_t = customers.iter().map(|c| c.t_cal).sum::<f64>() / n;
    let alpha = (mean_t.max(1e-3) / mean_x.max(1e-3)).clamp(1e-3, 1e6);
    BgNbdParams {
        r: 1.0,
        alpha,
        a: 1.0,
        b: 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::super::bgnbd_likelihood::tests::sample;
    use super::*;

    const PARAMS: BgNbdParams = BgNbdParams {
        r: 0.7,
        alpha: 6.0,
        a: 0.9,
        b: 2.2,
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
    fn fit_reaches_a_stationary_point_and_beats_the_start() {
        let data = sample();
        let options = FitOptions {
            min_customers: 10,
            min_repeat_customers: 5,
            ..FitOptions::default()
        };
        let fit = fit(&data, &options);
        let Ok(fit) = fit else { panic!("{fit:?}") };
        assert!(fit.log_likelihood > log_likelihood(&PARAMS, &data).unwrap_or(f64::NAN));
        // Warm start from the optimum converges at once to the same point.
        let warm = super::fit(
            &data,
            &FitOptions {
                start: Some(fit.params),
                ..options
            },
        );
        let Ok(warm) = warm else { panic!("{warm:?}") };
        assert!(
            warm.iterations <= 2 && (warm.log_likelihood - fit.log_likelihood).abs() < 1e-8,
            "{warm:?}"
        );
    }

    #[test]
    fn too_little_history_names_the_minimum() {
        let few = vec![rfm(1, 1.0, 5.0); 12];
        assert_eq!(
            fit(&few, &FitOptions::default()),
            Err(ModelError::TooLittleHistory {
                model: "BG/NBD",
                customers: 12,
                minimum: 50
            })
        );
        let no_repeats = vec![rfm(0, 0.0, 5.0); 80];
        assert_eq!(
            fit(&no_repeats, &FitOptions::default()),
            Err(ModelError::TooFewRepeaters {
                model: "BG/NBD",
                repeaters: 0,
                minimum: 10
            })
        );
    }

    #[test]
    fn an_unconverged_fit_is_an_error_not_parameters() {
        let options = FitOptions {
            max_iterations: 2,
            min_customers: 10,
            min_repeat_customers: 5,
            ..FitOptions::default()
        };
        assert!(matches!(
            fit(&sample(), &options),
            Err(ModelError::DidNotConverge { iterations: 2, .. })
        ));
    }

    #[test]
    fn invalid_summaries_are_rejected_before_fitting() {
        let mut data = sample();
        data.push(rfm(2, 9.0, 3.0));
        assert!(matches!(
            fit(&data, &FitOptions::default()),
            Err(ModelError::InvalidInput { field: "t_x", .. })
        ));
    }
}
