//! A synthetic restaurant chain drawn from the models' own generative processes, so the
//! benchmark's data has the shape the fit expects and the fitted parameters can be checked
//! against the ones that generated it.
//!
//! Visits follow the BG/NBD story (Fader, Hardie & Lee 2005, §3): while alive a guest visits
//! as a Poisson process with rate λ ~ Gamma(r, α); after each repeat visit they drop out with
//! probability p ~ Beta(a, b). Spend per visit follows Gamma-Gamma (Fader & Hardie 2013):
//! spend ~ Gamma(p, ν) around the guest's own mean, ν ~ Gamma(q, γ) across guests.
//! First visits are spread uniformly over the calibration year (new guests all year round).
//!
//! Owns the simulation only; visits are turned into `(x, t_x, T, m̄)` by the model crate's
//! own summary path ([`maitre_tagging::domain::model::summarize_visits`]), the same code the
//! service runs on real orders.

use anyhow::{Context, Result, ensure};
use chrono::{Days, NaiveDate};
use maitre_tagging::domain::model::{
    BgNbdParams, GammaGammaParams, RfmSummary, TimeUnit, Visit, summarize_visits,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, Exp, Gamma};

/// What to simulate. Rates and `α` are in days.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChainSpec {
    pub customers: u32,
    pub calibration_days: u32,
    pub visits: BgNbdParams,
    /// `γ` in fen (minor units), like the spends it generates.
    pub spend: GammaGammaParams,
    pub seed: u64,
    pub first_day: NaiveDate,
}

impl ChainSpec {
    /// A mid-size chain over one year, parameters chosen to look like restaurant guests:
    /// - r = 0.8, α = 20 days: mean visit rate r/α = 0.04 per day (one visit every ~25 days
    ///   while active), with wide heterogeneity (shape < 1: many occasional guests, a few
    ///   regulars).
    /// - a = 0.6, b = 4: mean dropout per repeat visit a/(a+b) ≈ 0.13, so a guest who keeps
    ///   coming is expected to make ~7–8 repeat visits before leaving, some drop at once.
    /// - p = 6, q = 4, γ = 7,500 fen: population mean ticket pγ/(q−1) = ¥150, guests'
    ///   own averages vary by about ±40%.
    pub fn restaurant_year(customers: u32, seed: u64) -> Self {
        ChainSpec {
            customers,
            calibration_days: 365,
            visits: BgNbdParams {
                r: 0.8,
                alpha: 20.0,
                a: 0.6,
                b: 4.0,
            },
            spend: GammaGammaParams {
                p: 6.0,
                q: 4.0,
                gamma: 7_500.0,
            },
            seed,
            first_day: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default(),
        }
    }

    /// Last day of calibration (inclusive).
    pub fn calibration_end(&self) -> Result<NaiveDate> {
        self.first_day
            .checked_add_days(Days::new(u64::from(
                self.calibration_days.saturating_sub(1),
            )))
            .context("calibration end out of the calendar")
    }
}

/// Simulated orders and their calibration summaries.
pub struct Chain {
    pub visits: Vec<Visit<u32>>,
    /// One per customer, sorted by customer id.
    pub summaries: Vec<RfmSummary>,
}

/// Draws the chain; the same spec (seed included) gives the same chain.
pub fn generate(spec: &ChainSpec) -> Result<Chain> {
    ensure!(
        spec.calibration_days > 0,
        "calibration_days must be positive"
    );
    let mut rng = StdRng::seed_from_u64(spec.seed);
    // rand_distr's Gamma takes a scale, the models a rate: scale = 1/rate.
    let visit_rate = Gamma::new(spec.visits.r, 1.0 / spec.visits.alpha)?;
    let dropout = Beta::new(spec.visits.a, spec.visits.b)?;
    let spend_rate = Gamma::new(spec.spend.q, 1.0 / spec.spend.gamma)?;
    let horizon_days = f64::from(spec.calibration_days);
    let mut visits = Vec::new();
    for customer in 0..spec.customers {
        let lambda_per_day: f64 = visit_rate.sample(&mut rng);
        let p_dropout: f64 = dropout.sample(&mut rng);
        let nu: f64 = spend_rate.sample(&mut rng);
        let ticket = Gamma::new(spec.spend.p, 1.0 / nu)?;
        // First visit at a uniformly random moment of the year (time of day included).
        let mut at_days = rng.random_range(0.0..horizon_days);
        let gaps = Exp::new(lambda_per_day)?;
        visits.push(Visit {
            customer,
            date: day_of(spec.first_day, at_days)?,
            spend_minor: spend_fen(&ticket, &mut rng),
        });
        loop {
            at_days += gaps.sample(&mut rng);
            if at_days >= horizon_days {
                break;
            }
            visits.push(Visit {
                customer,
                date: day_of(spec.first_day, at_days)?,
                spend_minor: spend_fen(&ticket, &mut rng),
            });
            // Dropout happens right after a repeat visit, never after the first one
            // (FHL 2005 §3, assumption iii).
            if rng.random_bool(p_dropout) {
                break;
            }
        }
    }
    let summaries = summarize_visits(&visits, spec.calibration_end()?, None, TimeUnit::Days)?
        .into_iter()
        .map(|s| s.calibration)
        .collect();
    Ok(Chain { visits, summaries })
}

fn day_of(first_day: NaiveDate, at_days: f64) -> Result<NaiveDate> {
    first_day
        .checked_add_days(Days::new(at_days.floor() as u64))
        .context("visit date out of the calendar")
}

/// One visit's spend, whole fen, at least 1 (a zero-spend visit is not an order).
fn spend_fen(ticket: &Gamma<f64>, rng: &mut StdRng) -> i64 {
    ticket.sample(rng).round().max(1.0) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> ChainSpec {
        ChainSpec::restaurant_year(2_000, 7)
    }

    #[test]
    fn the_same_seed_draws_the_same_chain_and_another_seed_does_not() {
        let (Ok(one), Ok(two)) = (generate(&small()), generate(&small())) else {
            panic!("generation failed");
        };
        assert_eq!(one.visits, two.visits);
        assert_eq!(one.summaries, two.summaries);
        let other = generate(&ChainSpec { seed: 8, ..small() });
        assert!(other.is_ok_and(|o| o.visits != one.visits));
    }

    #[test]
    fn every_customer_has_a_valid_summary_inside_the_year() {
        let Ok(chain) = generate(&small()) else {
            panic!("generation failed");
        };
        assert_eq!(chain.summaries.len(), 2_000);
        for rfm in &chain.summaries {
            assert!(rfm.validate().is_ok(), "{rfm:?}");
            assert!(rfm.t_cal <= 364.0, "{rfm:?}");
            assert_eq!(rfm.x == 0, rfm.monetary_mean_minor == 0.0, "{rfm:?}");
        }
        let end = small().calibration_end().unwrap_or_default();
        assert!(
            chain
                .visits
                .iter()
                .all(|v| v.date <= end && v.spend_minor >= 1)
        );
    }

    #[test]
    fn the_chain_looks_like_its_parameters() {
        let Ok(chain) = generate(&ChainSpec::restaurant_year(20_000, 11)) else {
            panic!("generation failed");
        };
        let n = chain.summaries.len() as f64;
        let repeaters: Vec<_> = chain.summaries.iter().filter(|s| s.x > 0).collect();
        let share_repeat = repeaters.len() as f64 / n;
        // P(a repeat visit within T) = 1 − (α/(α+T))^r (the NBD with no dropout before the
        // first repeat), averaged over T uniform on [0, 365): 1 − α^r[(α+365)^{1−r} − α^{1−r}]
        // / (365(1−r)) ≈ 0.779. Same-day visits merging takes a little off.
        let (r, alpha, days) = (0.8_f64, 20.0_f64, 365.0_f64);
        let expected = 1.0
            - alpha.powf(r) * ((alpha + days).powf(1.0 - r) - alpha.powf(1.0 - r))
                / (days * (1.0 - r));
        assert!(
            (share_repeat - expected).abs() < 0.02,
            "{share_repeat} vs {expected}"
        );
        // Repeat tickets average pγ/(q−1) = 15,000 fen.
        let mean_ticket =
            repeaters.iter().map(|s| s.monetary_mean_minor).sum::<f64>() / repeaters.len() as f64;
        assert!((12_000.0..18_000.0).contains(&mean_ticket), "{mean_ticket}");
    }
}
