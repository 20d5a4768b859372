//! Live tagging: after a profile event changed a customer's facts, re-evaluate that
//! customer's applied rule tags in the consumer's transaction (seed 002 §2 "实时打标").

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::{
    apply::apply_changes,
    evaluate::{Change, CustomerInput, Evaluator},
    scores::rule_scores,
    zones::customer_today,
};
use crate::{
    error::Result,
    state::Deps,
    storage::{
        facts::{find_customer, visits_of},
        interactions::interactions_of,
        membership::memberships_of,
        predictions::find_prediction,
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
