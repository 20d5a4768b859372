//! Live tagging: after a profile event changed a customer's facts, re-evaluate that
//! customer's applied rule tags in the consumer's transaction (seed 002 §2 "实时打标").

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::{
    apply::apply_changes,
    evaluate::{CustomerInput, Evaluator, RuleScores},
    scores::rule_scores,
    zones::{LocalDays, customer_today},
};
use crate::{
    domain::membership::Change,
    error::Result,
    state::Deps,
    storage::{
        facts::{VisitRow, customers_of, find_customer, visits_of, visits_of_customers},
        interactions::{InteractionRow, interactions_of, interactions_of_customers},
        membership::{MembershipRow, memberships_of, memberships_of_customers},
        places::home_zones_of_customers,
        predictions::{find_prediction, predictions_of_customers},
    },
};

/// Re-evaluates one customer and writes the changes; returns them.
pub async fn reevaluate_customer(
    conn: &impl ConnectionTrait,
    deps: &Deps,
    chain_id: &str,
    customer_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Change>> {
    let Some(customer) = find_customer(conn, chain_id, customer_id).await? else {
        return Ok(Vec::new());
    };
    let set = deps.rules.load(conn, chain_id).await?;
    if set.rules.is_empty() {
        return Ok(Vec::new());
    }
    let visits = visits_of(conn, chain_id, customer_id).await?;
    let interactions = interactions_of(conn, chain_id, customer_id).await?;
    let memberships = memberships_of(conn, chain_id, customer_id).await?;
    let scores = find_prediction(conn, chain_id, customer_id)
        .await?
        .as_ref()
        .map(rule_scores);
    let input = CustomerInput {
        customer: &customer,
        visits: &visits,
        interactions: &interactions,
        memberships: &memberships,
        scores,
    };
    // The customer's home-store-local day (days_since_last_visit, birthday_within).
    let today = customer_today(conn, chain_id, customer_id, now).await?;
    let changes = Evaluator::new(&set).changes(&input, today);
    apply_changes(
        conn,
        &deps.runtime.events,
        chain_id,
        changes,
        now.timestamp_micros(),
    )
    .await
}

/// [`reevaluate_customer`] for several customers of one chain at once: their facts read a
/// statement per table, each evaluated as alone, the changes written together.
pub async fn reevaluate_customers(
    conn: &impl ConnectionTrait,
    deps: &Deps,
    chain_id: &str,
    customer_ids: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<Change>> {
    if customer_ids.is_empty() {
        return Ok(Vec::new());
    }
    let set = deps.rules.load(conn, chain_id).await?;
    if set.rules.is_empty() {
        return Ok(Vec::new());
    }
    let customers = customers_of(conn, chain_id, customer_ids).await?;
    let mut visits: HashMap<String, Vec<VisitRow>> = HashMap::new();
    for v in visits_of_customers(conn, chain_id, customer_ids).await? {
        visits.entry(v.customer_id.clone()).or_default().push(v);
    }
    let mut interactions: HashMap<String, Vec<InteractionRow>> = HashMap::new();
    for i in interactions_of_customers(conn, chain_id, customer_ids).await? {
        interactions
            .entry(i.customer_id.clone())
            .or_default()
            .push(i);
    }
    let mut memberships: HashMap<String, Vec<MembershipRow>> = HashMap::new();
    for m in memberships_of_customers(conn, chain_id, customer_ids).await? {
        memberships
            .entry(m.customer_id.clone())
            .or_default()
            .push(m);
    }
    let scores: HashMap<String, RuleScores> =
        predictions_of_customers(conn, chain_id, customer_ids)
            .await?
            .iter()
            .map(|p| (p.customer_id.clone(), rule_scores(p)))
            .collect();
    let zones = home_zones_of_customers(conn, chain_id, customer_ids).await?;
    let mut days = LocalDays::new(now);
    let mut evaluator = Evaluator::new(&set);
    let mut changes = Vec::new();
    for customer in &customers {
        let id = &customer.customer_id;
        let input = CustomerInput {
            customer,
            visits: visits.get(id).map_or(&[], Vec::as_slice),
            interactions: interactions.get(id).map_or(&[], Vec::as_slice),
            memberships: memberships.get(id).map_or(&[], Vec::as_slice),
            scores: scores.get(id).copied(),
        };
        // The customer's home-store-local day, as `customer_today` reads it.
        let today = days.day_in(zones.get(id));
        changes.extend(evaluator.changes(&input, today));
    }
    apply_changes(
        conn,
        &deps.runtime.events,
        chain_id,
        changes,
        now.timestamp_micros(),
    )
    .await
}
