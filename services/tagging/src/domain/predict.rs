//! Turning stored visits into scores and scores into model tags (seed 002 §2 "预测标签"),
//! on top of [`super::model`]: the per-customer summary in DAYS as of a chain-local day
//! (several orders on one day are one visit), the scores a prediction carries, and the
//! rules of the built-in model tags. Pure: the engine loads and writes.

use chrono::NaiveDate;

use super::model::{
    BgNbdParams, GammaGammaParams, ModelError, RfmSummary, SpendObservation, TimeUnit,
    ValueHorizon, Visit, customer_value, summarize_visits,
};
use super::rule::{EpochDay, date_of};

/// Expected value horizon: one year, undiscounted (what HQ reads as "value next year").
pub const VALUE_HORIZON_DAYS: f64 = 365.0;
/// The horizon of `expected_visits_30d`.
pub const FORECAST_DAYS: f64 = 30.0;
/// `churn_risk` only for a customer who was once regular: at least this many visit days.
pub const REGULAR_VISIT_DAYS: i64 = 3;
/// `high_value`: the top decile of expected value.
pub const HIGH_VALUE_QUANTILE: f64 = 0.9;
/// `high_responder` / `new_dish_adopter`: a smoothed rate at least this multiple of the
/// chain's prior mean (smoothing already pulls one lucky response towards the mean).
pub const HIGH_RATE_FACTOR: f64 = 1.5;

/// `high_responder` / `new_dish_adopter` also need this many sends (visits after a
/// launch): when a chain's rates vary widely its fitted prior is weak and smoothing alone
/// still lifts 1 response out of 1 send over the cut-off, and the issue is explicit that
/// one lucky response is not a high responder.
pub const MIN_RATE_TRIALS: i64 = 3;

/// The built-in model tags, by `Tag.model` (also their default names).
pub const CHURN_RISK: &str = "churn_risk";
pub const HIGH_VALUE: &str = "high_value";
pub const HIGH_RESPONDER: &str = "high_responder";
pub const NEW_DISH_ADOPTER: &str = "new_dish_adopter";
pub const MODEL_TAGS: [&str; 4] = [CHURN_RISK, HIGH_VALUE, HIGH_RESPONDER, NEW_DISH_ADOPTER];

/// One visit as stored: chain-local epoch day and spend in fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayVisit {
    pub day: EpochDay,
    pub amount_fen: i64,
}

/// One customer's visits (`number`: the customer's dense number in the chain).
pub struct History {
    pub customer_id: String,
    pub number: u32,
    pub visits: Vec<DayVisit>,
}

/// The customer's `(x, t_x, T, m̄)` in days as of `today` (inclusive); `None` without a
/// visit on or before `today`.
pub fn summary_as_of(
    visits: &[DayVisit],
    today: EpochDay,
) -> Result<Option<RfmSummary>, ModelError> {
    let Some(end) = date_of(today) else {
        return Ok(None);
    };
    let dated: Vec<Visit<u8>> = visits
        .iter()
        .filter_map(|v| {
            Some(Visit {
                customer: 0,
                date: date_of(v.day)?,
                spend_minor: v.amount_fen,
            })
        })
        .collect();
    let summaries = summarize_visits(&dated, end, None, TimeUnit::Days)?;
    Ok(summaries.first().map(|s| s.calibration))
}

/// Distinct visit days on or before `today`.
pub fn visit_days(visits: &[DayVisit], today: EpochDay) -> i64 {
    let mut days: Vec<EpochDay> = visits
        .iter()
        .map(|v| v.day)
        .filter(|d| *d <= today)
        .collect();
    days.sort_unstable();
    days.dedup();
    days.len() as i64
}

/// The visit-model scores of one customer; every number finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VisitScores {
    pub p_alive: f64,
    pub expected_visits_30d: f64,
    pub expected_ticket_fen: i64,
    pub expected_value_fen: i64,
}

/// Rounds a finite non-negative amount to fen; anything else is refused.
fn to_fen(value: f64, quantity: &'static str) -> Result<i64, ModelError> {
    if !value.is_finite() {
        return Err(ModelError::NonFinite { quantity });
    }
    Ok(value.max(0.0).round().min(i64::MAX as f64) as i64)
}

/// Scores one customer with the chain's current parameters (no refit). Without a spend
/// model the expected ticket is the customer's own mean spend per visit day.
pub fn score(
    visits: &BgNbdParams,
    spend: Option<&GammaGammaParams>,
    rfm: &RfmSummary,
    own_mean_ticket_fen: f64,
) -> Result<VisitScores, ModelError> {
    let forecast = visits.forecast(FORECAST_DAYS, rfm)?;
    let (ticket, value) = match spend {
        Some(spend) => {
            let horizon = ValueHorizon {
                horizon: VALUE_HORIZON_DAYS,
                period: 30.0,
                discount_rate: 0.0,
            };
            (
                spend.expected_mean_spend(&SpendObservation::from(rfm))?,
                customer_value(visits, spend, rfm, &horizon)?,
            )
        }
        None => {
            let year = visits.expected_visits(VALUE_HORIZON_DAYS, rfm)?;
            (own_mean_ticket_fen, year * own_mean_ticket_fen)
        }
    };
    let p_alive = forecast.p_alive;
    let expected = forecast.expected_visits;
    if !(p_alive.is_finite() && (0.0..=1.0).contains(&p_alive)) {
        return Err(ModelError::NonFinite {
            quantity: "p_alive",
        });
    }
    if !(expected.is_finite() && expected >= 0.0) {
        return Err(ModelError::NonFinite {
            quantity: "expected visits",
        });
    }
    Ok(VisitScores {
        p_alive,
        expected_visits_30d: expected,
        expected_ticket_fen: to_fen(ticket, "expected ticket")?,
        expected_value_fen: to_fen(value, "expected value")?,
    })
}

/// The customer's mean spend per visit day, fen (0 without visits).
pub fn mean_ticket_fen(visits: &[DayVisit]) -> f64 {
    let mut days: Vec<EpochDay> = visits.iter().map(|v| v.day).collect();
    days.sort_unstable();
    days.dedup();
    if days.is_empty() {
        return 0.0;
    }
    visits.iter().map(|v| v.amount_fen as f64).sum::<f64>() / days.len() as f64
}

/// The chain's cut-offs for the model tags.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TagCutoffs {
    pub churn_threshold: f64,
    /// 0 = no high-value tag (no spend figures).
    pub high_value_cutoff_fen: i64,
    /// 0 = no responder model.
    pub responder_cutoff: f64,
    /// 0 = no acceptance model.
    pub adopter_cutoff: f64,
}

/// What a customer's model tags should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModelTagging {
    pub churn_risk: bool,
    pub high_value: bool,
    pub high_responder: bool,
    pub new_dish_adopter: bool,
}

impl ModelTagging {
    /// Whether the tag of `model` should hold.
    pub fn holds(&self, model: &str) -> bool {
        match model {
            CHURN_RISK => self.churn_risk,
            HIGH_VALUE => self.high_value,
            HIGH_RESPONDER => self.high_responder,
            NEW_DISH_ADOPTER => self.new_dish_adopter,
            _ => false,
        }
    }
}

/// The scores a model tag reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TagInputs {
    pub visit_days: i64,
    pub p_alive: f64,
    pub expected_value_fen: i64,
    pub response_rate: f64,
    pub response_sends: i64,
    pub new_dish_acceptance: f64,
    pub new_dish_visits: i64,
}

/// The rules of the built-in model tags (seed 002 §2): churn risk is P(alive) below the
/// chain's threshold for a customer who was once regular; the others compare with the
/// chain's cut-offs (a zero cut-off means the model is not available).
pub fn model_tagging(inputs: &TagInputs, cutoffs: &TagCutoffs) -> ModelTagging {
    ModelTagging {
        churn_risk: inputs.visit_days >= REGULAR_VISIT_DAYS
            && inputs.p_alive < cutoffs.churn_threshold,
        high_value: cutoffs.high_value_cutoff_fen > 0
            && inputs.expected_value_fen >= cutoffs.high_value_cutoff_fen,
        high_responder: cutoffs.responder_cutoff > 0.0
            && inputs.response_sends >= MIN_RATE_TRIALS
            && inputs.response_rate >= cutoffs.responder_cutoff,
        new_dish_adopter: cutoffs.adopter_cutoff > 0.0
            && inputs.new_dish_visits >= MIN_RATE_TRIALS
            && inputs.new_dish_acceptance >= cutoffs.adopter_cutoff,
    }
}

/// The value at `quantile` (nearest rank) of `values`; `None` when empty.
pub fn quantile_of(values: &[i64], quantile: f64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((quantile.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize).max(1);
    sorted.get(rank - 1).copied()
}

/// The cut-off of a "high" smoothed rate given the chain's prior mean.
pub fn high_rate_cutoff(prior_mean: f64) -> f64 {
    if prior_mean.is_finite() && prior_mean > 0.0 {
        (prior_mean * HIGH_RATE_FACTOR).min(1.0)
    } else {
        0.0
    }
}

/// A store-local date as an epoch day, for callers holding dates.
pub fn day_of(date: NaiveDate) -> EpochDay {
    super::rule::epoch_day(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visits(days: &[(i32, i64)]) -> Vec<DayVisit> {
        days.iter()
            .map(|&(day, amount_fen)| DayVisit { day, amount_fen })
            .collect()
    }

    const PARAMS: BgNbdParams = BgNbdParams {
        r: 0.8,
        alpha: 20.0,
        a: 0.6,
        b: 3.0,
    };

    #[test]
    fn same_day_orders_are_one_visit_in_days() {
        let v = visits(&[(100, 5_000), (100, 3_000), (110, 6_000), (130, 4_000)]);
        let rfm = summary_as_of(&v, 140).ok().flatten().expect("summary");
        assert_eq!(rfm.x, 2);
        assert_eq!(rfm.t_x, 30.0);
        assert_eq!(rfm.t_cal, 40.0);
        assert_eq!(visit_days(&v, 140), 3);
        assert_eq!(mean_ticket_fen(&v), 6_000.0);
        assert_eq!(summary_as_of(&v, 50).ok().flatten(), None);
    }

    #[test]
    fn a_recent_visit_raises_p_alive() {
        let lapsed = visits(&[(0, 5_000), (10, 5_000), (20, 5_000)]);
        let mut back = lapsed.clone();
        back.push(DayVisit {
            day: 200,
            amount_fen: 5_000,
        });
        let before = summary_as_of(&lapsed, 200).ok().flatten().expect("rfm");
        let after = summary_as_of(&back, 200).ok().flatten().expect("rfm");
        let s0 = score(&PARAMS, None, &before, 5_000.0).expect("score");
        let s1 = score(&PARAMS, None, &after, 5_000.0).expect("score");
        assert!(s0.p_alive < 0.3, "{s0:?}");
        // Visited today: t_x = T, so the dropout odds are a/(b+x−1) = 0.6/5.
        assert!((s1.p_alive - 1.0 / 1.12).abs() < 1e-12, "{s1:?}");
        assert!(s1.expected_visits_30d > s0.expected_visits_30d);
        assert_eq!(s1.expected_ticket_fen, 5_000);
        assert!(s1.expected_value_fen > 0);
    }

    #[test]
    fn model_tags_follow_their_rules() {
        let cutoffs = TagCutoffs {
            churn_threshold: 0.3,
            high_value_cutoff_fen: 100_000,
            responder_cutoff: 0.3,
            adopter_cutoff: 0.0,
        };
        let regular_lapsed = TagInputs {
            visit_days: 3,
            p_alive: 0.2,
            expected_value_fen: 100_000,
            response_rate: 0.31,
            response_sends: 3,
            new_dish_acceptance: 0.9,
            new_dish_visits: 5,
        };
        let t = model_tagging(&regular_lapsed, &cutoffs);
        assert!(t.churn_risk && t.high_value && t.high_responder);
        assert!(!t.new_dish_adopter, "no acceptance model: never tagged");
        let one_timer = TagInputs {
            visit_days: 2,
            ..regular_lapsed
        };
        assert!(!model_tagging(&one_timer, &cutoffs).churn_risk);
        let alive = TagInputs {
            p_alive: 0.3,
            ..regular_lapsed
        };
        assert!(!model_tagging(&alive, &cutoffs).holds(CHURN_RISK));
        let lucky = TagInputs {
            response_rate: 0.6,
            response_sends: 1,
            ..regular_lapsed
        };
        assert!(!model_tagging(&lucky, &cutoffs).high_responder);
    }

    #[test]
    fn quantiles_and_rate_cutoffs() {
        let values: Vec<i64> = (1..=20).collect();
        assert_eq!(quantile_of(&values, 0.9), Some(18));
        assert_eq!(quantile_of(&[], 0.9), None);
        assert_eq!(quantile_of(&[7], 0.9), Some(7));
        assert_eq!(high_rate_cutoff(0.2), 0.2 * 1.5);
        assert_eq!(high_rate_cutoff(0.9), 1.0);
        assert_eq!(high_rate_cutoff(f64::NAN), 0.0);
    }
}
