//! Refitting a chain's models (on demand as a job, and daily under a leader lease): visit
//! summaries in days as of today → BG/NBD (warm-started from the previous fit) and
//! Gamma-Gamma → a calibration table on a holdout → every customer rescored → the model
//! tags' cut-offs and memberships → rule tags re-evaluated (they may read `p_alive`).
//! A fit that does not converge keeps the previous parameters and says so in the report;
//! too little history is refused before anything is written.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::{
    apply::apply_changes,
    model_tags::{ensure_model_tags, model_tag_changes},
    rates::{ChainRates, acceptance_rates, response_rates},
    recompute::recompute_chain,
    scores::{cutoffs_of, predict_customer, tag_inputs},
    zones::{CustomerDays, chain_today},
};
use crate::{
    domain::membership::Change,
    domain::{
        holdout::holdout_calibration,
        model::{
            BgNbdParams, FitOptions, ModelError, RfmSummary, SpendFitOptions, SpendObservation,
            bgnbd_fit,
            gamma_gamma::{self, GammaGammaFit, GammaGammaParams},
        },
        predict::{
            DayVisit, FORECAST_DAYS, HIGH_VALUE_QUANTILE, History, VALUE_HORIZON_DAYS,
            model_tagging, quantile_of, summary_as_of,
        },
    },
    error::{Result, TaggingError},
    state::Deps,
    storage::{
        begin_write,
        membership::members_of_tag,
        models::{ModelRow, chain_visits, load_model, save_model},
        predictions::{PredictionRow, all_predictions, upsert_prediction},
    },
};

/// The smoothed rates a refit stores with the scores.
struct Rates<'a> {
    responses: &'a ChainRates,
    acceptance: &'a ChainRates,
}

/// Days after a launch that count for the `new_dish_adopter` tag (GetNewDishAcceptance's
/// default window).
pub const ACCEPTANCE_WINDOW_DAYS: i32 = 30;

/// Gamma-Gamma's q beyond which a fit is degenerate: customers' mean spends ν ~ Gamma(q, γ)
/// vary by 1/√q, so q = 10⁴ says every guest spends the same within 1% — no chain does; the
/// fit a half-caught-up refit stored had q ≈ 1.3e7 (issue 20, item 9).
const DEGENERATE_SPEND_Q: f64 = 1e4;

/// The spend parameters a refit stores: a new fit only when it has a mean (q > 1) and still
/// tells customers apart (q ≤ [`DEGENERATE_SPEND_Q`]); otherwise the note that says why the
/// previous parameters are kept.
fn spend_to_keep(
    fit: std::result::Result<GammaGammaFit, ModelError>,
) -> std::result::Result<GammaGammaParams, String> {
    match fit {
        Ok(fit) if fit.params.q > DEGENERATE_SPEND_Q => Err(format!(
            "spend model q = {:.3e} leaves no difference between customers (a degenerate fit); previous spend parameters kept",
            fit.params.q
        )),
        Ok(fit) if fit.params.q > 1.0 => Ok(fit.params),
        Ok(fit) => Err(format!(
            "spend model q = {} ≤ 1 has no mean; previous spend parameters kept",
            fit.params.q
        )),
        Err(e) => Err(format!("spend model: {e}; previous spend parameters kept")),
    }
}

/// Customers written per transaction when rescoring.
const BATCH: usize = 1000;

/// What a refit did.
#[derive(Debug, Clone, PartialEq)]
pub struct RefitOutcome {
    pub customers: u64,
    pub converged: bool,
    pub note: String,
    pub changes: u64,
}

/// The chain's visit histories, by customer.
pub async fn load_histories(deps: &Deps, chain_id: &str) -> Result<Vec<History>> {
    let mut histories: Vec<History> = Vec::new();
    for (customer_id, number, day, amount_fen) in chain_visits(&deps.runtime.db, chain_id).await? {
        let visit = DayVisit { day, amount_fen };
        match histories.last_mut() {
            Some(h) if h.customer_id == customer_id => h.visits.push(visit),
            _ => histories.push(History {
                customer_id,
                number,
                visits: vec![visit],
            }),
        }
    }
    Ok(histories)
}

/// Summaries of every customer as of their own home-store-local today.
fn summaries(histories: &[History], days: &mut CustomerDays) -> Result<Vec<RfmSummary>> {
    let mut out = Vec::with_capacity(histories.len());
    for h in histories {
        let today = days.today_of(&h.customer_id);
        if let Some(rfm) = summary_as_of(&h.visits, today).map_err(model_invalid)? {
            out.push(rfm);
        }
    }
    Ok(out)
}

fn model_invalid(e: ModelError) -> TaggingError {
    TaggingError::precondition("chain", e.to_string())
}

/// Refuses a chain with too little history for BG/NBD, naming the minimum.
pub fn check_history(summaries: &[RfmSummary]) -> Result<()> {
    let options = FitOptions::default();
    let repeaters = summaries.iter().filter(|s| s.x > 0).count();
    if summaries.len() < options.min_customers || repeaters < options.min_repeat_customers {
        return Err(TaggingError::precondition(
            "chain",
            format!(
                "too little history to fit the visit model: {} customers with a visit and {} with a repeat visit; at least {} customers and {} with a repeat visit are needed",
                summaries.len(),
                repeaters,
                options.min_customers,
                options.min_repeat_customers
            ),
        ));
    }
    Ok(())
}

/// Checks the chain's history is enough to refit (what RefitModels answers at once).
pub async fn check_chain_history(deps: &Deps, chain_id: &str, now: DateTime<Utc>) -> Result<()> {
    let histories = load_histories(deps, chain_id).await?;
    let mut days = CustomerDays::load(&deps.runtime.db, chain_id, now).await?;
    check_history(&summaries(&histories, &mut days)?)
}

/// Checks fitted parameters score the chain's extreme histories (most visits, none) over
/// the forecast and value horizons: a degenerate fit (e.g. a, b → ∞ when dropout does not
/// vary) can make eq. 10's series unusable, and is then treated like a failed fit.
fn scores_every_history(params: &BgNbdParams, summaries: &[RfmSummary]) -> Result<(), ModelError> {
    let most = summaries.iter().max_by_key(|s| s.x);
    let fewest = summaries.iter().min_by_key(|s| s.x);
    for rfm in most.into_iter().chain(fewest) {
        params.forecast(FORECAST_DAYS, rfm)?;
        params.forecast(VALUE_HORIZON_DAYS, rfm)?;
    }
    Ok(())
}

/// Refits the chain's models as of `now` and rescores every customer.
pub async fn refit_chain(deps: &Deps, chain_id: &str, now: DateTime<Utc>) -> Result<RefitOutcome> {
    let db = &deps.runtime.db;
    // The chain's latest local day: the refit's day and the calibration's end; each customer
    // is summarised and scored in their own store's day.
    let today = chain_today(db, chain_id, now).await?;
    let histories = load_histories(deps, chain_id).await?;
    let mut days = CustomerDays::load(db, chain_id, now).await?;
    let summaries = summaries(&histories, &mut days)?;
    check_history(&summaries)?;
    let previous = load_model(db, chain_id).await?.unwrap_or_default();
    let mut model = ModelRow {
        refit_day: i64::from(today),
        ..previous.clone()
    };
    let mut notes = Vec::new();
    let options = FitOptions {
        start: previous.visits,
        ..FitOptions::default()
    };
    match bgnbd_fit::fit(&summaries, &options) {
        Ok(fit) if scores_every_history(&fit.params, &summaries).is_err() => {
            model.converged = false;
            let why = scores_every_history(&fit.params, &summaries)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            notes.push(format!(
                "the fitted visit parameters cannot score customers ({why}); previous parameters kept"
            ));
        }
        Ok(fit) => {
            model.visits = Some(fit.params);
            model.log_likelihood = fit.log_likelihood;
            model.customers = fit.customers as i64;
            model.fit_at_us = now.timestamp_micros();
            model.converged = true;
        }
        Err(e @ (ModelError::TooLittleHistory { .. } | ModelError::TooFewRepeaters { .. })) => {
            return Err(model_invalid(e));
        }
        Err(e) => {
            model.converged = false;
            notes.push(format!("{e}; previous parameters kept"));
        }
    }
    let spend: Vec<SpendObservation> = summaries.iter().map(SpendObservation::from).collect();
    match spend_to_keep(gamma_gamma::fit(&spend, &SpendFitOptions::default())) {
        Ok(params) => model.spend = Some(params),
        Err(note) => notes.push(note),
    }
    let visit_lists: Vec<&[DayVisit]> = histories.iter().map(|h| h.visits.as_slice()).collect();
    let (rows, calibration_note) = holdout_calibration(&visit_lists, today);
    model.calibration = rows;
    notes.push(calibration_note);
    let responses = response_rates(deps, chain_id, &histories).await?;
    let acceptance = acceptance_rates(deps, chain_id, &histories, ACCEPTANCE_WINDOW_DAYS).await?;
    model.response_prior = responses.prior.map_or((0.0, 0.0), |p| (p.alpha, p.beta));
    model.responder_cutoff = responses.cutoff;
    model.adopter_cutoff = acceptance.cutoff;
    notes.extend(
        [&responses.note, &acceptance.note]
            .into_iter()
            .filter(|n| !n.is_empty())
            .cloned(),
    );
    model.note = notes.join("; ");
    let rates = Rates {
        responses: &responses,
        acceptance: &acceptance,
    };
    let outcome = rescore_chain(deps, chain_id, &histories, &mut days, model, &rates, now).await?;
    // Rules may read p_alive / expected_visits: bring rule tags up to the new scores.
    let recomputed = recompute_chain(deps, chain_id, now, |_, _| {}).await?;
    Ok(RefitOutcome {
        changes: outcome.changes + recomputed.changes,
        ..outcome
    })
}

/// Scores every customer with `model`, sets the cut-offs, stores model and scores, and
/// brings the model tags up to date.
async fn rescore_chain(
    deps: &Deps,
    chain_id: &str,
    histories: &[History],
    days: &mut CustomerDays,
    mut model: ModelRow,
    rates: &Rates<'_>,
    now: DateTime<Utc>,
) -> Result<RefitOutcome> {
    let db = &deps.runtime.db;
    let now_us = now.timestamp_micros();
    let previous: HashMap<String, PredictionRow> = all_predictions(db, chain_id)
        .await?
        .into_iter()
        .map(|p| (p.customer_id.clone(), p))
        .collect();
    let predictions: Vec<PredictionRow> = histories
        .iter()
        .filter_map(|h| {
            let mut p = predict_customer(
                &model,
                &h.customer_id,
                h.number,
                &h.visits,
                previous.get(&h.customer_id),
                days.today_of(&h.customer_id),
                now,
            )?;
            if rates.responses.prior.is_some() {
                (p.response_rate, p.response_sends) = rates
                    .responses
                    .rates
                    .get(&h.customer_id)
                    .copied()
                    .unwrap_or((0.0, 0));
            }
            if rates.acceptance.prior.is_some() {
                (p.new_dish_acceptance, p.new_dish_visits) = rates
                    .acceptance
                    .rates
                    .get(&h.customer_id)
                    .copied()
                    .unwrap_or((0.0, 0));
            }
            Some(p)
        })
        .collect();
    let values: Vec<i64> = predictions.iter().map(|p| p.expected_value_fen).collect();
    model.high_value_cutoff_fen = quantile_of(&values, HIGH_VALUE_QUANTILE)
        .unwrap_or(0)
        .max(0);
    let txn = begin_write(db).await?;
    save_model(&txn, chain_id, &model).await?;
    let tags = if model.visits.is_some() {
        ensure_model_tags(&txn, chain_id, now_us).await?
    } else {
        Vec::new()
    };
    txn.commit().await?;
    let mut members: HashMap<String, HashSet<String>> = HashMap::new();
    for tag in &tags {
        for m in members_of_tag(db, chain_id, &tag.tag_id).await? {
            members
                .entry(m.customer_id)
                .or_default()
                .insert(tag.tag_id.clone());
        }
    }
    let cutoffs = cutoffs_of(&model);
    let mut changes_total = 0u64;
    for chunk in predictions.chunks(BATCH) {
        let txn = begin_write(db).await?;
        let mut changes: Vec<Change> = Vec::new();
        for p in chunk {
            upsert_prediction(&txn, chain_id, p).await?;
            let empty = HashSet::new();
            let current: HashSet<&str> = members
                .get(&p.customer_id)
                .unwrap_or(&empty)
                .iter()
                .map(String::as_str)
                .collect();
            let tagging = model_tagging(&tag_inputs(p), &cutoffs);
            changes.extend(model_tag_changes(
                &tags,
                &p.customer_id,
                p.number,
                &tagging,
                &current,
            ));
        }
        let applied = apply_changes(&txn, &deps.runtime.events, chain_id, changes, now_us).await?;
        txn.commit().await?;
        deps.runtime.events.committed();
        deps.bitmaps.apply(chain_id, &applied);
        changes_total += applied.len() as u64;
    }
    Ok(RefitOutcome {
        customers: predictions.len() as u64,
        converged: model.converged,
        note: model.note,
        changes: changes_total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(x: u32) -> RfmSummary {
        RfmSummary {
            x,
            t_x: f64::from(x.min(90)),
            t_cal: 100.0,
            monetary_mean_minor: 0.0,
        }
    }

    #[test]
    fn too_little_history_names_the_minimum() {
        let few: Vec<RfmSummary> = (0..49).map(|i| summary(i % 3)).collect();
        let err = check_history(&few)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("49 customers") && err.contains("at least 50"),
            "{err}"
        );
        let no_repeaters: Vec<RfmSummary> = (0..60).map(|i| summary(u32::from(i < 5))).collect();
        let err = check_history(&no_repeaters)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("5 with a repeat visit") && err.contains("10 with a repeat visit"),
            "{err}"
        );
        let enough: Vec<RfmSummary> = (0..60).map(|i| summary(i % 2)).collect();
        assert!(check_history(&enough).is_ok());
    }

    #[test]
    fn degenerate_parameters_are_refused_before_scoring() {
        let histories = vec![summary(0), summary(400)];
        let sane = BgNbdParams::new(0.5, 10.0, 0.7, 2.5).expect("params");
        assert!(scores_every_history(&sane, &histories).is_ok());
        // a, b → ∞ (dropout does not vary): eq. 10's series needs ~a·z terms.
        let degenerate = BgNbdParams::new(1.9, 25.8, 2.0e11, 8.0e11).expect("params");
        assert!(scores_every_history(&degenerate, &histories).is_err());
    }

    #[test]
    fn a_degenerate_spend_fit_keeps_the_previous_parameters() {
        let fit = |q: f64| GammaGammaFit {
            params: GammaGammaParams {
                p: 6.0,
                q,
                gamma: 15.0,
            },
            log_likelihood: -1.0,
            iterations: 10,
            customers: 100,
        };
        // The fit a half-caught-up refit stored (issue 20, item 9): q ≈ 1.3e7.
        let note = spend_to_keep(Ok(fit(1.3e7))).err().unwrap_or_default();
        assert!(
            note.contains("degenerate") && note.contains("previous"),
            "{note}"
        );
        assert!(spend_to_keep(Ok(fit(DEGENERATE_SPEND_Q + 1.0))).is_err());
        let note = spend_to_keep(Ok(fit(0.8))).err().unwrap_or_default();
        assert!(note.contains("no mean"), "{note}");
        assert_eq!(spend_to_keep(Ok(fit(3.5))).ok().map(|p| p.q), Some(3.5));
        assert_eq!(
            spend_to_keep(Ok(fit(DEGENERATE_SPEND_Q))).ok().map(|p| p.q),
            Some(DEGENERATE_SPEND_Q)
        );
    }
}
