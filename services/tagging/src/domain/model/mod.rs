//! Predictive models behind the predictive tags (seed 002, ARCHITECTURE "Predictive tags"):
//! churn risk and expected visits from BG/NBD, expected average ticket and customer value from
//! Gamma-Gamma, campaign responders and new-dish acceptance from a beta-binomial prior.
//!
//! Owns the statistics only: visits come in as plain values (store-local dates and spend in
//! minor units), parameters and scores go out as plain values. No I/O, no storage, no gRPC;
//! the service decides when to refit and where to keep parameters.
//!
//! Sources, with the equations implemented:
//! - Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the
//!   Pareto/NBD Model", Marketing Science 24(2): individual likelihood eq. 6 (fitted in log
//!   space, [`bgnbd_fit`] over [`bgnbd_likelihood`]), unconditional E[X(t)] eq. 7,
//!   conditional E[Y(t) | x, t_x, T] eq. 10, and P(alive) from the authors' note "Computing P(alive) Using the BG/NBD Model"
//!   ([`bgnbd`]). The Gaussian hypergeometric function of eq. 10 goes through Euler's
//!   transformation so it never overflows for customers with many visits.
//! - Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base
//!   Analysis", JMR 42(4), and Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value":
//!   likelihood eq. 1 of the note and the conditional mean eq. 5 ([`gamma_gamma`]); customer
//!   value over a horizon from both models ([`value`]).
//! - Beta-binomial empirical Bayes for rates ([`beta_binomial`]).
//!
//! The CDNOW reproduction of the published figures is `tests/cdnow.rs`.

pub mod beta_binomial;
pub mod bgnbd;
pub mod bgnbd_fit;
mod bgnbd_likelihood;
pub mod calibration;
pub mod gamma_gamma;
mod optimize;
mod special;
pub mod summary;
pub mod value;

pub use beta_binomial::{
    BetaPrior, BetaPriorFit, PriorFitOptions, RateObservation, smoothed_rates,
};
pub use bgnbd::{BgNbdParams, VisitForecast};
pub use bgnbd_fit::{BgNbdFit, FitOptions};
pub use calibration::{CalibrationRow, HoldoutObservation, calibration_table};
pub use gamma_gamma::{GammaGammaFit, GammaGammaParams, SpendFitOptions, SpendObservation};
pub use summary::{CustomerSummary, RfmSummary, TimeUnit, Visit, summarize_visits};
pub use value::{ValueHorizon, customer_value};

/// Why a model could not be fitted or a prediction could not be made. The service maps
/// `TooLittleHistory` / `TooFewRepeaters` to FAILED_PRECONDITION, `InvalidInput` to
/// INVALID_ARGUMENT and `SeriesDidNotConverge` too (the horizon is the caller's), and keeps
/// the previous parameters on `DidNotConverge` / `NonFinite`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error(
        "too little history to fit {model}: {customers} usable customers, at least {minimum} needed"
    )]
    TooLittleHistory {
        model: &'static str,
        customers: usize,
        minimum: usize,
    },
    #[error(
        "too few repeat customers to fit {model}: {repeaters} with a repeat visit, at least {minimum} needed"
    )]
    TooFewRepeaters {
        model: &'static str,
        repeaters: usize,
        minimum: usize,
    },
    #[error(
        "{model} fit did not converge after {iterations} iterations (largest gradient {gradient_norm:e})"
    )]
    DidNotConverge {
        model: &'static str,
        iterations: usize,
        gradient_norm: f64,
    },
    #[error(
        "the hypergeometric series of eq. 10 did not converge in {terms} terms (z = {z}): horizon far longer than α + T"
    )]
    SeriesDidNotConverge { terms: usize, z: f64 },
    #[error("{quantity} is not finite")]
    NonFinite { quantity: &'static str },
    #[error("invalid {field}: {value} ({reason})")]
    InvalidInput {
        field: &'static str,
        value: f64,
        reason: &'static str,
    },
    #[error("mean spend is undefined for q = {q} (the Gamma-Gamma mean needs q > 1)")]
    MeanSpendUndefined { q: f64 },
}

/// Fails with `NonFinite` unless `value` is finite: the last check before a number leaves
/// this module, so NaN or infinity never reach a tag.
pub(crate) fn finite(value: f64, quantity: &'static str) -> Result<f64, ModelError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ModelError::NonFinite { quantity })
    }
}
