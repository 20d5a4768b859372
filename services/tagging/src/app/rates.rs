//! Smoothed per-guest rates (seed 002 §2 营销活动高响应者, §4 对新品接受度): campaign
//! response rates from notification's sends and the visits that followed, and new-dish
//! acceptance from the menu's launches and the dish lines after them. Each is a
//! beta-binomial posterior mean under the chain's prior fitted at refit, so one lucky
//! response is not a "high responder"; between refits a new send or response updates the
//! guest's rate under the stored prior.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::scores::apply_model_tags;
use crate::{
    domain::{
        analysis::{Send, combine, launch_trials, response_observation},
        model::{BetaPrior, PriorFitOptions, RateObservation, smoothed_rates},
        predict::{History, high_rate_cutoff},
        rule::EpochDay,
    },
    error::Result,
    state::Deps,
    storage::{
        campaigns::{SendRow, sends_since},
        facts::visits_of,
        menu::{all_dishes, lines_since},
        models::load_model,
        predictions::{find_prediction, upsert_prediction},
    },
};

/// A chain's smoothed rates and the prior and cut-off they came with.
#[derive(Debug, Clone, Default)]
pub struct ChainRates {
    /// Guest → (smoothed rate, trials).
    pub rates: HashMap<String, (f64, i64)>,
    /// `None` when too few guests had a trial to fit a prior.
    pub prior: Option<BetaPrior>,
    pub cutoff: f64,
    pub note: String,
}

fn smooth(what: &str, observations: Vec<(String, RateObservation)>) -> ChainRates {
    let records: Vec<RateObservation> = observations.iter().map(|(_, o)| *o).collect();
    match smoothed_rates(&records, &PriorFitOptions::default()) {
        Ok((fit, rates)) => ChainRates {
            rates: observations
                .into_iter()
                .zip(rates)
                .map(|((c, obs), rate)| (c, (rate, i64::from(obs.trials))))
                .collect(),
            prior: Some(fit.prior),
            cutoff: high_rate_cutoff(fit.prior.mean()),
            note: String::new(),
        },
        Err(e) => ChainRates {
            note: format!("{what}: {e}"),
            ..ChainRates::default()
        },
    }
}

fn visit_days_of(history: &History) -> Vec<EpochDay> {
    let mut days: Vec<EpochDay> = history.visits.iter().map(|v| v.day).collect();
    days.sort_unstable();
    days.dedup();
    days
}

fn sends_of(rows: &[SendRow]) -> Vec<Send> {
    rows.iter()
        .map(|s| Send {
            sent_day: s.sent_day,
            responded: s.responded,
        })
        .collect()
}

/// Response rates of every guest with a campaign send.
pub async fn response_rates(
    deps: &Deps,
    chain_id: &str,
    histories: &[History],
) -> Result<ChainRates> {
    let mut sends: HashMap<String, Vec<SendRow>> = HashMap::new();
    for s in sends_since(&deps.runtime.db, chain_id, i32::MIN).await? {
        sends.entry(s.customer_id.clone()).or_default().push(s);
    }
    let visits: HashMap<&str, Vec<EpochDay>> = histories
        .iter()
        .map(|h| (h.customer_id.as_str(), visit_days_of(h)))
        .collect();
    let observations = sends
        .into_iter()
        .map(|(customer, rows)| {
            let days = visits.get(customer.as_str()).map_or(&[][..], Vec::as_slice);
            let obs = response_observation(&sends_of(&rows), days, deps.response_window_days);
            (customer, obs)
        })
        .collect();
    Ok(smooth("response rates", observations))
}

/// New-dish acceptance of every guest who visited within `window_days` of a launch.
pub async fn acceptance_rates(
    deps: &Deps,
    chain_id: &str,
    histories: &[History],
    window_days: i32,
) -> Result<ChainRates> {
    let launches: Vec<(String, EpochDay)> = all_dishes(&deps.runtime.db, chain_id)
        .await?
        .into_iter()
        .filter_map(|d| Some((d.dish_id, d.launch_day?)))
        .collect();
    let Some(first_launch) = launches.iter().map(|l| l.1).min() else {
        return Ok(ChainRates {
            note: "new-dish acceptance: no dish with a launch date".into(),
            ..ChainRates::default()
        });
    };
    let mut tried: HashMap<(String, String), Vec<EpochDay>> = HashMap::new();
    for line in lines_since(&deps.runtime.db, chain_id, first_launch).await? {
        if !line.dish_id.is_empty() {
            tried
                .entry((line.customer_id, line.dish_id))
                .or_default()
                .push(line.day);
        }
    }
    let mut observations = Vec::new();
    for h in histories {
        let days = visit_days_of(h);
        let mut total = RateObservation {
            successes: 0,
            trials: 0,
        };
        for (dish_id, launch) in &launches {
            let tried_days = tried
                .get(&(h.customer_id.clone(), dish_id.clone()))
                .map_or(&[][..], Vec::as_slice);
            total = combine(
                total,
                launch_trials(*launch, window_days, &days, tried_days),
            );
        }
        if total.trials > 0 {
            observations.push((h.customer_id.clone(), total));
        }
    }
    Ok(smooth("new-dish acceptance", observations))
}

/// Updates one guest's response rate under the chain's stored prior after a send or a
/// response, and their model tags.
pub async fn refresh_response_rate(
    conn: &impl ConnectionTrait,
    deps: &Deps,
    chain_id: &str,
    customer_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(model) = load_model(conn, chain_id).await? else {
        return Ok(());
    };
    let (alpha, beta) = model.response_prior;
    if !(alpha > 0.0 && beta > 0.0) {
        return Ok(());
    }
    let Some(mut prediction) = find_prediction(conn, chain_id, customer_id).await? else {
        return Ok(());
    };
    let rows: Vec<SendRow> = sends_since(conn, chain_id, i32::MIN)
        .await?
        .into_iter()
        .filter(|s| s.customer_id == customer_id)
        .collect();
    let mut days: Vec<EpochDay> = visits_of(conn, chain_id, customer_id)
        .await?
        .iter()
        .map(|v| v.day)
        .collect();
    days.dedup();
    let obs = response_observation(&sends_of(&rows), &days, deps.response_window_days);
    let Ok(rate) = (BetaPrior { alpha, beta }).posterior_mean(&obs) else {
        return Ok(());
    };
    prediction.response_rate = rate;
    prediction.response_sends = i64::from(obs.trials);
    prediction.computed_at_us = now.timestamp_micros();
    upsert_prediction(conn, chain_id, &prediction).await?;
    apply_model_tags(
        conn,
        deps,
        chain_id,
        &model,
        &prediction,
        now.timestamp_micros(),
    )
    .await?;
    Ok(())
}
