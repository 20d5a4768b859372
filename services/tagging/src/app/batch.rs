//! Loading the stored facts of a range of customer numbers at once (one range query per table),
//! for the full recompute and rule previews.

use std::collections::HashMap;

use sea_orm::ConnectionTrait;

use super::{
    evaluate::{CustomerInput, RuleScores},
    scores::rule_scores,
};
use crate::error::Result;
use crate::storage::{
    facts::{CustomerRow, VisitRow, customers_in_range, visits_in_range},
    interactions::{InteractionRow, interactions_in_range},
    membership::{MembershipRow, memberships_in_range},
    predictions::predictions_in_range,
};

/// Customers per batch (one transaction each in a recompute).
pub const BATCH_CUSTOMERS: u32 = 1000;

pub struct Batch {
    pub customers: Vec<CustomerRow>,
    visits: HashMap<String, Vec<VisitRow>>,
    interactions: HashMap<String, Vec<InteractionRow>>,
    memberships: HashMap<String, Vec<MembershipRow>>,
    scores: HashMap<String, RuleScores>,
}

impl Batch {
    /// Facts of the customers numbered in `[from, to)`.
    pub async fn load(
        conn: &impl ConnectionTrait,
        chain_id: &str,
        from: u32,
        to: u32,
    ) -> Result<Batch> {
        let customers = customers_in_range(conn, chain_id, from, to).await?;
        let mut visits: HashMap<String, Vec<VisitRow>> = HashMap::new();
        for v in visits_in_range(conn, chain_id, from, to).await? {
            visits.entry(v.customer_id.clone()).or_default().push(v);
        }
        let mut interactions: HashMap<String, Vec<InteractionRow>> = HashMap::new();
        for i in interactions_in_range(conn, chain_id, from, to).await? {
            interactions
                .entry(i.customer_id.clone())
                .or_default()
                .push(i);
        }
        let mut memberships: HashMap<String, Vec<MembershipRow>> = HashMap::new();
        for m in memberships_in_range(conn, chain_id, from, to).await? {
            memberships
                .entry(m.customer_id.clone())
                .or_default()
                .push(m);
        }
        let scores = predictions_in_range(conn, chain_id, from, to)
            .await?
            .iter()
            .map(|p| (p.customer_id.clone(), rule_scores(p)))
            .collect();
        Ok(Batch {
            customers,
            visits,
            interactions,
            memberships,
            scores,
        })
    }

    /// Everything stored about the batch's `i`-th customer.
    pub fn input(&self, i: usize) -> Option<CustomerInput<'_>> {
        let customer = self.customers.get(i)?;
        Some(CustomerInput {
            customer,
            visits: self
                .visits
                .get(&customer.customer_id)
                .map_or(&[], Vec::as_slice),
            interactions: self
                .interactions
                .get(&customer.customer_id)
                .map_or(&[], Vec::as_slice),
            memberships: self
                .memberships
                .get(&customer.customer_id)
                .map_or(&[], Vec::as_slice),
            scores: self.scores.get(&customer.customer_id).copied(),
        })
    }
}
