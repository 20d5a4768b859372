//! Live scores (seed 002 §2: churn risk moves with the event): when profile's stream brings
//! a visit, the customer's P(alive), expected visits, ticket and value are recomputed with
//! the chain's current parameters (no refit) in the consumer's transaction, stored,
//! announced as `PredictionUpdated`, and the customer's model tags follow. The rule facts
//! `p_alive` / `expected_visits(Nd)` read the stored scores ([`rule_scores`]).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use maitre_proto::events::v1::{EventScope, PredictionUpdated, event::Payload};
use sea_orm::ConnectionTrait;

use super::{
    apply::apply_changes,
    evaluate::RuleScores,
    model_tags::{model_tag_changes, model_tags},
    zones::customer_today,
};
use crate::{
    domain::membership::Change,
    domain::predict::{
        DayVisit, FORECAST_DAYS, TagCutoffs, TagInputs, mean_ticket_fen, model_tagging, score,
        summary_as_of, visit_days,
    },
    domain::rule::EpochDay,
    error::Result,
    state::Deps,
    storage::{
        facts::{VisitRow, find_customer, visits_of},
        membership::memberships_of,
        models::{ModelRow, load_model},
        predictions::{PredictionRow, find_prediction, upsert_prediction},
    },
};

/// The rule facts of a stored prediction (`expected_visits(Nd)` = per-day rate × N).
pub fn rule_scores(p: &PredictionRow) -> RuleScores {
    RuleScores {
        p_alive: p.p_alive,
        expected_visits_per_day: p.expected_visits_30d / FORECAST_DAYS,
    }
}

/// The chain's model-tag cut-offs.
pub fn cutoffs_of(model: &ModelRow) -> TagCutoffs {
    TagCutoffs {
        churn_threshold: model.churn_threshold,
        high_value_cutoff_fen: model.high_value_cutoff_fen,
        responder_cutoff: model.responder_cutoff,
        adopter_cutoff: model.adopter_cutoff,
    }
}

/// The model tags a prediction earns.
pub fn tag_inputs(p: &PredictionRow) -> TagInputs {
    TagInputs {
        visit_days: p.visit_days,
        p_alive: p.p_alive,
        expected_value_fen: p.expected_value_fen,
        response_rate: p.response_rate,
        response_sends: p.response_sends,
        new_dish_acceptance: p.new_dish_acceptance,
        new_dish_visits: p.new_dish_visits,
    }
}

pub fn day_visits(visits: &[VisitRow]) -> Vec<DayVisit> {
    visits
        .iter()
        .map(|v| DayVisit {
            day: v.day,
            amount_fen: v.amount_fen,
        })
        .collect()
}

/// Scores one customer from their visits with the chain's model as of `today`, their home
/// store's local day (`app::zones`); `None` when the chain has
/// no fitted model, the customer has no visit, or a score is not finite (logged; the old
/// scores stay).
pub fn predict_customer(
    model: &ModelRow,
    customer_id: &str,
    number: u32,
    visits: &[DayVisit],
    previous: Option<&PredictionRow>,
    today: EpochDay,
    now: DateTime<Utc>,
) -> Option<PredictionRow> {
    let params = model.visits.as_ref()?;
    let rfm = match summary_as_of(visits, today) {
        Ok(Some(rfm)) => rfm,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(customer = %customer_id, error = %e, "visit summary refused");
            return None;
        }
    };
    match score(params, model.spend.as_ref(), &rfm, mean_ticket_fen(visits)) {
        Ok(s) => Some(PredictionRow {
            customer_id: customer_id.to_owned(),
            number,
            visit_days: visit_days(visits, today),
            p_alive: s.p_alive,
            expected_visits_30d: s.expected_visits_30d,
            expected_ticket_fen: s.expected_ticket_fen,
            expected_value_fen: s.expected_value_fen,
            response_rate: previous.map_or(0.0, |p| p.response_rate),
            response_sends: previous.map_or(0, |p| p.response_sends),
            new_dish_acceptance: previous.map_or(0.0, |p| p.new_dish_acceptance),
            new_dish_visits: previous.map_or(0, |p| p.new_dish_visits),
            computed_at_us: now.timestamp_micros(),
        }),
        Err(e) => {
            tracing::warn!(customer = %customer_id, error = %e, "score not finite; kept the previous one");
            None
        }
    }
}

/// Writes a customer's model-tag changes for `prediction`.
pub async fn apply_model_tags(
    conn: &impl ConnectionTrait,
    deps: &Deps,
    chain_id: &str,
    model: &ModelRow,
    prediction: &PredictionRow,
    now_us: i64,
) -> Result<Vec<Change>> {
    let tags = model_tags(conn, chain_id).await?;
    if tags.is_empty() {
        return Ok(Vec::new());
    }
    let memberships = memberships_of(conn, chain_id, &prediction.customer_id).await?;
    let current: HashSet<&str> = memberships.iter().map(|m| m.tag_id.as_str()).collect();
    let tagging = model_tagging(&tag_inputs(prediction), &cutoffs_of(model));
    let changes = model_tag_changes(
        &tags,
        &prediction.customer_id,
        prediction.number,
        &tagging,
        &current,
    );
    apply_changes(conn, &deps.runtime.events, chain_id, changes, now_us).await
}

/// Rescores one customer after a visit; returns the model-tag changes.
pub async fn rescore_customer(
    conn: &impl ConnectionTrait,
    deps: &Deps,
    chain_id: &str,
    customer_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Change>> {
    let Some(model) = load_model(conn, chain_id).await? else {
        return Ok(Vec::new());
    };
    let Some(customer) = find_customer(conn, chain_id, customer_id).await? else {
        return Ok(Vec::new());
    };
    let visits = day_visits(&visits_of(conn, chain_id, customer_id).await?);
    let previous = find_prediction(conn, chain_id, customer_id).await?;
    let today = customer_today(conn, chain_id, customer_id, now).await?;
    let Some(prediction) = predict_customer(
        &model,
        customer_id,
        customer.number,
        &visits,
        previous.as_ref(),
        today,
        now,
    ) else {
        return Ok(Vec::new());
    };
    upsert_prediction(conn, chain_id, &prediction).await?;
    deps.runtime
        .events
        .append(
            conn,
            chain_id,
            EventScope {
                customer_id: customer_id.to_owned(),
                ..Default::default()
            },
            Payload::PredictionUpdated(PredictionUpdated {
                customer_id: customer_id.to_owned(),
                p_alive: prediction.p_alive,
                expected_visits_30d: prediction.expected_visits_30d,
            }),
        )
        .await?;
    apply_model_tags(
        conn,
        deps,
        chain_id,
        &model,
        &prediction,
        now.timestamp_micros(),
    )
    .await
}
