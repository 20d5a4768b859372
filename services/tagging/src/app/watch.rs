//! Watched segments (seed 002 §3, automation triggers): when a customer's tags or
//! attributes change, the watched segments that reference what changed are re-checked
//! for that customer, in the transaction of the change, against the recorded membership
//! (`tag_segment_member`): a new member emits `SegmentEntered`, a lost one `SegmentLeft`.
//! A change that changes nothing (a replay) evaluates to the recorded state and emits nothing.

use std::collections::{BTreeMap, BTreeSet};

use maitre_kit::eventlog::EventLog;
use maitre_proto::events::v1::{EventScope, SegmentEntered, SegmentLeft, event::Payload};
use roaring::RoaringBitmap;
use sea_orm::ConnectionTrait;

use crate::domain::membership::Change;
use crate::{
    domain::segment::{Leaf, SegmentExpr, parse_segment},
    error::Result,
    storage::{
        facts::{CustomerRow, find_customer},
        watched::{delete_member, insert_member, is_member, tag_names_of, watched_segments},
    },
};

/// What changed for a customer.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// These tags (by name) were added or removed.
    Tags(BTreeSet<String>),
    /// The class or attributes changed.
    Facts,
}

impl Trigger {
    /// Whether a segment with these leaves may have changed.
    fn touches(&self, expr: &SegmentExpr) -> bool {
        expr.leaves().into_iter().any(|leaf| match (self, leaf) {
            (Trigger::Tags(names), Leaf::Tag { name }) => names.contains(name),
            (Trigger::Facts, Leaf::Class { .. } | Leaf::Attr { .. }) => true,
            _ => false,
        })
    }
}

/// Whether one customer with these tags and facts is in the segment: the segment's own
/// bitmap evaluation over a one-customer universe.
pub fn holds_for(expr: &SegmentExpr, tag_names: &BTreeSet<String>, customer: &CustomerRow) -> bool {
    let universe: RoaringBitmap = std::iter::once(0u32).collect();
    let one = |holds: bool| {
        if holds {
            universe.clone()
        } else {
            RoaringBitmap::new()
        }
    };
    let members = expr.evaluate(&universe, &|leaf| match leaf {
        Leaf::Tag { name } => one(tag_names.contains(name)),
        Leaf::Class { value, equal } => one(customer
            .class
            .as_ref()
            .is_some_and(|class| (class == value) == *equal)),
        Leaf::Attr { name, value, equal } => one(customer
            .attributes
            .iter()
            .find(|(n, _)| n == name)
            .is_some_and(|(_, v)| (v == value) == *equal)),
    });
    !members.is_empty()
}

/// Re-checks the watched segments touched by applied tag changes.
pub async fn after_tag_changes(
    conn: &impl ConnectionTrait,
    events: &EventLog,
    chain_id: &str,
    applied: &[Change],
    now_us: i64,
) -> Result<()> {
    if applied.is_empty() {
        return Ok(());
    }
    let mut by_customer: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for change in applied {
        by_customer
            .entry(change.customer_id.as_str())
            .or_default()
            .insert(change.tag_name.clone());
    }
    let segments = watched(conn, chain_id).await?;
    if segments.is_empty() {
        return Ok(());
    }
    for (customer_id, names) in by_customer {
        let trigger = Trigger::Tags(names);
        recheck(
            conn,
            events,
            chain_id,
            customer_id,
            &segments,
            &trigger,
            now_us,
        )
        .await?;
    }
    Ok(())
}

/// Re-checks the watched segments over classes and attributes after a customer's facts changed.
pub async fn after_fact_change(
    conn: &impl ConnectionTrait,
    events: &EventLog,
    chain_id: &str,
    customer_id: &str,
    now_us: i64,
) -> Result<()> {
    let segments = watched(conn, chain_id).await?;
    recheck(
        conn,
        events,
        chain_id,
        customer_id,
        &segments,
        &Trigger::Facts,
        now_us,
    )
    .await
}

/// [`after_fact_change`] for several customers: the watched segments read once, nothing
/// more when the chain watches none.
pub async fn after_fact_changes(
    conn: &impl ConnectionTrait,
    events: &EventLog,
    chain_id: &str,
    customer_ids: &[String],
    now_us: i64,
) -> Result<()> {
    if customer_ids.is_empty() {
        return Ok(());
    }
    let segments = watched(conn, chain_id).await?;
    if segments.is_empty() {
        return Ok(());
    }
    for customer_id in customer_ids {
        recheck(
            conn,
            events,
            chain_id,
            customer_id,
            &segments,
            &Trigger::Facts,
            now_us,
        )
        .await?;
    }
    Ok(())
}

/// The chain's watched segments, parsed (a stored expression that no longer parses is skipped).
async fn watched(
    conn: &impl ConnectionTrait,
    chain_id: &str,
) -> Result<Vec<(String, SegmentExpr)>> {
    Ok(watched_segments(conn, chain_id)
        .await?
        .into_iter()
        .filter_map(|s| Some((s.segment_id, parse_segment(&s.expression).ok()?)))
        .collect())
}

async fn recheck(
    conn: &impl ConnectionTrait,
    events: &EventLog,
    chain_id: &str,
    customer_id: &str,
    segments: &[(String, SegmentExpr)],
    trigger: &Trigger,
    now_us: i64,
) -> Result<()> {
    let touched: Vec<&(String, SegmentExpr)> = segments
        .iter()
        .filter(|(_, e)| trigger.touches(e))
        .collect();
    if touched.is_empty() {
        return Ok(());
    }
    // A customer no longer on the roster is in no segment.
    let customer = find_customer(conn, chain_id, customer_id).await?;
    let names: BTreeSet<String> = tag_names_of(conn, chain_id, customer_id)
        .await?
        .into_iter()
        .collect();
    for (segment_id, expr) in touched {
        let holds = customer
            .as_ref()
            .is_some_and(|c| holds_for(expr, &names, c));
        let was = is_member(conn, chain_id, segment_id, customer_id).await?;
        let payload = match (was, holds) {
            (false, true) => {
                insert_member(conn, chain_id, segment_id, customer_id, now_us).await?;
                Payload::SegmentEntered(SegmentEntered {
                    segment_id: segment_id.clone(),
                    customer_id: customer_id.to_owned(),
                })
            }
            (true, false) => {
                delete_member(conn, chain_id, segment_id, customer_id).await?;
                Payload::SegmentLeft(SegmentLeft {
                    segment_id: segment_id.clone(),
                    customer_id: customer_id.to_owned(),
                })
            }
            _ => continue,
        };
        let scope = EventScope {
            customer_id: customer_id.to_owned(),
            ..Default::default()
        };
        events.append(conn, chain_id, scope, payload).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(class: Option<&str>, attributes: &[(&str, &str)]) -> CustomerRow {
        CustomerRow {
            customer_id: "c1".into(),
            number: 0,
            birthday: None,
            class: class.map(str::to_owned),
            attributes: attributes
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn one_customer_membership_follows_the_expression() {
        let expr = parse_segment("likes_dessert and not churn_risk").expect("valid");
        let c = customer(None, &[]);
        assert!(holds_for(&expr, &names(&["likes_dessert"]), &c));
        assert!(!holds_for(
            &expr,
            &names(&["likes_dessert", "churn_risk"]),
            &c
        ));
        assert!(!holds_for(&expr, &names(&[]), &c));
        let by_facts =
            parse_segment(r#"class == "A" and attr("gender") != "male""#).expect("valid");
        assert!(holds_for(
            &by_facts,
            &names(&[]),
            &customer(Some("A"), &[("gender", "female")])
        ));
        assert!(
            !holds_for(&by_facts, &names(&[]), &customer(Some("A"), &[])),
            "unset attribute"
        );
        assert!(!holds_for(
            &by_facts,
            &names(&[]),
            &customer(None, &[("gender", "female")])
        ));
    }

    #[test]
    fn only_segments_over_what_changed_are_touched() {
        let expr = parse_segment("likes_dessert and not churn_risk").expect("valid");
        assert!(Trigger::Tags(names(&["churn_risk"])).touches(&expr));
        assert!(!Trigger::Tags(names(&["vip"])).touches(&expr));
        assert!(!Trigger::Facts.touches(&expr));
        let by_class = parse_segment(r#"class == "A""#).expect("valid");
        assert!(Trigger::Facts.touches(&by_class));
    }
}
