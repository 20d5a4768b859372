//! Smoothed per-customer rates by empirical Bayes with a beta-binomial model: campaign
//! responsiveness (营销活动高响应者: responses / sends) and new-dish acceptance (对新品接受度:
//! new dishes ordered / visits since launch). Each customer's rate p ~ Beta(α, β), and
//! successes | p ~ Binomial(trials, p); the chain's (α, β) are fitted by maximum likelihood
//! and each customer gets the posterior mean `(k + α) / (n + α + β)`, so one lucky response
//! out of one send is pulled towards the chain's rate, while 40 out of 50 stays high.
//!
//! The fit runs in `(μ, κ)` = (prior mean, prior strength α+β), both squashed into bounded
//! ranges by logistic maps so BFGS cannot run off to infinity: when the data show no
//! customer-to-customer variation the likelihood keeps rising with κ, and the fit stops at
//! [`MAX_PRIOR_STRENGTH`], which means "everyone gets the pooled rate" — the right answer.

use super::optimize::{StopRule, minimize_bfgs};
use super::special::{digamma, ln_beta};
use super::{ModelError, finite};

/// Largest prior strength α + β the fit may reach (see module docs).
pub const MAX_PRIOR_STRENGTH: f64 = 1e6;
/// The prior mean is kept in `[MIN_PRIOR_MEAN, 1 − MIN_PRIOR_MEAN]`: a chain with no response
/// at all still gets a tiny positive rate rather than a degenerate prior.
pub const MIN_PRIOR_MEAN: f64 = 1e-6;

/// One customer's record: `successes` out of `trials` (responses out of sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RateObservation {
    pub successes: u32,
    pub trials: u32,
}

/// The chain's Beta(α, β) prior over per-customer rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetaPrior {
    pub alpha: f64,
    pub beta: f64,
}

/// A converged prior fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetaPriorFit {
    pub prior: BetaPrior,
    /// Beta-binomial log-likelihood without the binomial coefficients (constant in α, β).
    pub log_likelihood: f64,
    pub iterations: usize,
    /// Customers with at least one trial (the others carry no information).
    pub customers: usize,
}

/// Knobs of [`fit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PriorFitOptions {
    pub max_iterations: usize,
    pub gradient_tolerance: f64,
    /// Fewer customers with a trial than this is "too little history".
    pub min_customers: usize,
}

impl Default for PriorFitOptions {
    fn default() -> Self {
        PriorFitOptions {
            max_iterations: 300,
            gradient_tolerance: 1e-9,
            min_customers: 20,
        }
    }
}

fn check(obs: &RateObservation) -> Result<(), ModelError> {
    if obs.successes > obs.trials {
        return Err(ModelError::InvalidInput {
            field: "successes",
            value: f64::from(obs.successes),
            reason: "more successes than trials",
        });
    }
    Ok(())
}

impl BetaPrior {
    /// The prior mean α / (α + β): the chain's typical rate.
    pub fn mean(&self) -> f64 {
        self.alpha / (self.alpha + self.beta)
    }

    /// Posterior mean `(k + α) / (n + α + β)` of one customer's rate.
    pub fn posterior_mean(&self, obs: &RateObservation) -> Result<f64, ModelError> {
        check(obs)?;
        let value = (f64::from(obs.successes) + self.alpha)
            / (f64::from(obs.trials) + self.alpha + self.beta);
        finite(value, "posterior rate")
    }
}

fn logistic(u: f64) -> f64 {
    1.0 / (1.0 + (-u).exp())
}

/// Maps the optimiser's `(φ, θ)` to `(μ, κ)` and their derivatives `dμ/dφ`, `dκ/dθ`.
fn unsquash(theta: &[f64; 2]) -> (f64, f64, f64, f64) {
    let (s_mu, s_kappa) = (logistic(theta[0]), logistic(theta[1]));
    let span = 1.0 - 2.0 * MIN_PRIOR_MEAN;
    let mu = MIN_PRIOR_MEAN + span * s_mu;
    let kappa = MAX_PRIOR_STRENGTH * s_kappa;
    (
        mu,
        kappa,
        span * s_mu * (1.0 - s_mu),
        MAX_PRIOR_STRENGTH * s_kappa * (1.0 - s_kappa),
    )
}

/// Fits the Beta prior by maximum likelihood over customers with `trials > 0`.
pub fn fit(
    observations: &[RateObservation],
    options: &PriorFitOptions,
) -> Result<BetaPriorFit, ModelError> {
    const MODEL: &str = "beta-binomial";
    for obs in observations {
        check(obs)?;
    }
    // Identical (k, n) records are one weighted term: campaign counts repeat a lot.
    let mut records: Vec<RateObservation> = observations
        .iter()
        .copied()
        .filter(|o| o.trials > 0)
        .collect();
    if records.len() < options.min_customers.max(2) {
        return Err(ModelError::TooLittleHistory {
            model: MODEL,
            customers: records.len(),
            minimum: options.min_customers.max(2),
        });
    }
    records.sort_unstable();
    let groups: Vec<(f64, f64, f64)> = records
        .chunk_by(|l, r| l == r)
        .map(|run| {
            (
                f64::from(run[0].successes),
                f64::from(run[0].trials),
                run.len() as f64,
            )
        })
        .collect();
    let n_customers = records.len() as f64;
    let pooled = groups.iter().map(|g| g.0 * g.2).sum::<f64>()
        / groups.iter().map(|g| g.1 * g.2).sum::<f64>();
    let objective = |theta: &[f64; 2], grad: &mut [f64; 2]| {
        let (mu, kappa, dmu, dkappa) = unsquash(theta);
        let (alpha, beta) = (mu * kappa, (1.0 - mu) * kappa);
        let (ll, d_alpha, d_beta) = log_likelihood(alpha, beta, &groups);
        // Chain rule through α = μκ, β = (1−μ)κ.
        grad[0] = -(d_alpha - d_beta) * kappa * dmu / n_customers;
        grad[1] = -(d_alpha * mu + d_beta * (1.0 - mu)) * dkappa / n_customers;
        -ll / n_customers
    };
    let pooled_mean = pooled.clamp(MIN_PRIOR_MEAN, 1.0 - MIN_PRIOR_MEAN);
    if overdispersion_score(pooled_mean, &groups) <= 0.0 {
        // No more spread than binomial noise: the likelihood rises all the way to κ = ∞,
        // where the MLE of μ is the pooled rate. Return that boundary directly rather than
        // letting BFGS crawl towards it.
        let (alpha, beta) = (
            pooled_mean * MAX_PRIOR_STRENGTH,
            (1.0 - pooled_mean) * MAX_PRIOR_STRENGTH,
        );
        return Ok(BetaPriorFit {
            prior: BetaPrior { alpha, beta },
            log_likelihood: finite(
                log_likelihood(alpha, beta, &groups).0,
                "beta-binomial log-likelihood",
            )?,
            iterations: 0,
            customers: records.len(),
        });
    }
    // Start at the pooled rate with a weak prior (κ = 2).
    let mu0 = pooled.clamp(0.01, 0.99);
    let start = [
        (mu0 / (1.0 - mu0)).ln(),
        (2.0 / (MAX_PRIOR_STRENGTH - 2.0)).ln(),
    ];
    let stop = StopRule {
        max_iterations: options.max_iterations,
        gradient_tolerance: options.gradient_tolerance,
    };
    let min = minimize_bfgs(objective, start, stop);
    if !min.converged {
        return Err(ModelError::DidNotConverge {
            model: MODEL,
            iterations: min.iterations,
            gradient_norm: min.gradient_norm,
        });
    }
    let (mu, kappa, _, _) = unsquash(&min.point);
    Ok(BetaPriorFit {
        prior: BetaPrior {
            alpha: finite(mu * kappa, "alpha")?,
            beta: finite((1.0 - mu) * kappa, "beta")?,
        },
        log_likelihood: finite(-min.value * n_customers, "beta-binomial log-likelihood")?,
        iterations: min.iterations,
        customers: records.len(),
    })
}

/// Fits the chain's prior and returns each customer's smoothed rate, in input order: the
/// one call behind "high responders" and new-dish acceptance.
pub fn smoothed_rates(
    observations: &[RateObservation],
    options: &PriorFitOptions,
) -> Result<(BetaPriorFit, Vec<f64>), ModelError> {
    let fit = fit(observations, options)?;
    let rates = observations
        .iter()
        .map(|obs| fit.prior.posterior_mean(obs))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((fit, rates))
}

/// Derivative of the log-likelihood in `1/κ` at `1/κ = 0` (no heterogeneity), for prior
/// mean `μ`: writing `Γ(k+α)/Γ(α) = Π_{j<k}(α+j)` and dividing by `κ^n`, each record gives
/// `k(k−1)/(2μ) + (n−k)(n−k−1)/(2(1−μ)) − n(n−1)/2` (Tarone's 1979 score for overdispersion).
/// Not positive means the data show no more spread than binomial noise.
fn overdispersion_score(mu: f64, groups: &[(f64, f64, f64)]) -> f64 {
    groups
        .iter()
        .map(|&(k, n, weight)| {
            weight
                * (k * (k - 1.0) / (2.0 * mu) + (n - k) * (n - k - 1.0) / (2.0 * (1.0 - mu))
                    - n * (n - 1.0) / 2.0)
        })
        .sum()
}

/// `Σ w [ln B(k+α, n−k+β) − ln B(α, β)]` and its partial derivatives in α and β.
fn log_likelihood(alpha: f64, beta: f64, groups: &[(f64, f64, f64)]) -> (f64, f64, f64) {
    let (ln_b0, psi_a, psi_b, psi_ab) = (
        ln_beta(alpha, beta),
        digamma(alpha),
        digamma(beta),
        digamma(alpha + beta),
    );
    let (mut ll, mut d_alpha, mut d_beta) = (0.0, 0.0, 0.0);
    for &(k, n, weight) in groups {
        let psi_n = digamma(n + alpha + beta);
        ll += weight * (ln_beta(k + alpha, n - k + beta) - ln_b0);
        d_alpha += weight * (digamma(k + alpha) - psi_n - psi_a + psi_ab);
        d_beta += weight * (digamma(n - k + beta) - psi_n - psi_b + psi_ab);
    }
    (ll, d_alpha, d_beta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn obs(successes: u32, trials: u32) -> RateObservation {
        RateObservation { successes, trials }
    }

    /// 300 customers with ten sends each and rates spread from 0 to 0.5, plus the two the
    /// seed worries about: one lucky responder and one reliable one.
    fn campaign() -> Vec<RateObservation> {
        let mut data: Vec<_> = (0..300).map(|i| obs(i % 6, 10)).collect();
        data.extend([obs(1, 1), obs(40, 50)]);
        data
    }

    #[test]
    fn one_lucky_response_is_not_a_high_responder() {
        let fit = fit(&campaign(), &PriorFitOptions::default());
        let Ok(fit) = fit else {
            panic!("fit failed: {fit:?}")
        };
        let lucky = fit.prior.posterior_mean(&obs(1, 1)).unwrap_or(f64::NAN);
        let reliable = fit.prior.posterior_mean(&obs(40, 50)).unwrap_or(f64::NAN);
        assert!(
            lucky < 0.5,
            "1/1 shrinks towards the chain's rate: {lucky} ({fit:?})"
        );
        assert!(reliable > 0.7, "40/50 stays high: {reliable}");
        assert!(reliable > lucky);
        // The prior mean sits near the pooled rate (~0.26).
        assert!((fit.prior.mean() - 0.26).abs() < 0.03, "{fit:?}");
    }

    #[test]
    fn without_variation_everyone_gets_the_pooled_rate() {
        let data: Vec<_> = (0..100).map(|_| obs(3, 10)).collect();
        let fit = fit(&data, &PriorFitOptions::default());
        let Ok(fit) = fit else {
            panic!("fit failed: {fit:?}")
        };
        assert!(fit.prior.alpha + fit.prior.beta > 1e3, "{fit:?}");
        let smoothed = fit.prior.posterior_mean(&obs(10, 10)).unwrap_or(f64::NAN);
        assert!((smoothed - 0.3).abs() < 0.01, "{smoothed}");
    }

    #[test]
    fn a_chain_with_no_response_stays_finite() {
        let data: Vec<_> = (0..50).map(|i| obs(0, 1 + i % 5)).collect();
        let fit = fit(&data, &PriorFitOptions::default());
        let Ok(fit) = fit else {
            panic!("fit failed: {fit:?}")
        };
        assert!(fit.prior.mean() < 1e-3 && fit.prior.alpha > 0.0, "{fit:?}");
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let groups = [(1.0, 4.0, 3.0), (0.0, 2.0, 5.0), (7.0, 9.0, 1.0)];
        let (alpha, beta, h) = (0.8, 2.5, 1e-6);
        let (_, d_alpha, d_beta) = log_likelihood(alpha, beta, &groups);
        let numeric_alpha = (log_likelihood(alpha + h, beta, &groups).0
            - log_likelihood(alpha - h, beta, &groups).0)
            / (2.0 * h);
        let numeric_beta = (log_likelihood(alpha, beta + h, &groups).0
            - log_likelihood(alpha, beta - h, &groups).0)
            / (2.0 * h);
        assert!((d_alpha - numeric_alpha).abs() < 1e-6 && (d_beta - numeric_beta).abs() < 1e-6);
    }

    #[test]
    fn rejects_impossible_records_and_tiny_chains() {
        assert!(matches!(
            fit(&[obs(3, 2)], &PriorFitOptions::default()),
            Err(ModelError::InvalidInput {
                field: "successes",
                ..
            })
        ));
        let few: Vec<_> = (0..5).map(|i| obs(i % 2, 3)).collect();
        assert_eq!(
            fit(&few, &PriorFitOptions::default()),
            Err(ModelError::TooLittleHistory {
                model: "beta-binomial",
                customers: 5,
                minimum: 20
            })
        );
        assert!(
            BetaPrior {
                alpha: 1.0,
                beta: 1.0
            }
            .posterior_mean(&obs(2, 1))
            .is_err()
        );
    }

    proptest! {
        #[test]
        fn smoothed_rates_lie_between_the_raw_rate_and_the_prior_mean(
            records in proptest::collection::vec((0u32..30, 0u32..30), 20..120),
        ) {
            let data: Vec<_> = records.iter().map(|&(k, extra)| obs(k, k + extra)).collect();
            let result = smoothed_rates(&data, &PriorFitOptions::default());
            prop_assume!(!matches!(result, Err(ModelError::TooLittleHistory { .. })));
            let (fit, rates) = result.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let prior_mean = fit.prior.mean();
            for (record, rate) in data.iter().zip(&rates) {
                prop_assert!((0.0..=1.0).contains(rate));
                if record.trials > 0 {
                    let raw = f64::from(record.successes) / f64::from(record.trials);
                    let (low, high) = (raw.min(prior_mean), raw.max(prior_mean));
                    prop_assert!(*rate >= low - 1e-12 && *rate <= high + 1e-12, "{record:?}: {rate} vs raw {raw}, prior {prior_mean}");
                } else {
                    prop_assert!((rate - prior_mean).abs() < 1e-12);
                }
            }
        }
    }
}
