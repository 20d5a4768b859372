//! Evaluating one customer's rule tags: stored facts → [`CustomerFacts`] → each applied
//! rule in evaluation order → the membership changes that make storage agree. The live
//! path (one customer per profile event) and the full recompute (batches of customers)
//! both go through [`Evaluator::changes`], so their results are the same by construction.

use std::collections::{HashMap, HashSet};

use crate::domain::membership::Change;
use crate::domain::rule::{Birthday, CustomerFacts, EpochDay, Interner};
use crate::storage::ruleset::RuleSet;
use crate::storage::{
    catalog::SOURCE_RULE,
    facts::{CustomerRow, VisitRow},
    interactions::InteractionRow,
    membership::MembershipRow,
};

/// What rules read of a customer's scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuleScores {
    pub p_alive: f64,
    pub expected_visits_per_day: f64,
}

/// Everything stored about one customer.
pub struct CustomerInput<'a> {
    pub customer: &'a CustomerRow,
    pub visits: &'a [VisitRow],
    /// Campaign responses, message replies, reviews (`campaign_responses(90d)`, …).
    pub interactions: &'a [InteractionRow],
    pub memberships: &'a [MembershipRow],
    /// The customer's stored model scores (the `p_alive` and `expected_visits(Nd)` facts).
    pub scores: Option<RuleScores>,
}

/// Evaluates rules for many customers, reusing its buffers.
pub struct Evaluator<'r> {
    set: &'r RuleSet,
    interner: Interner,
    facts: CustomerFacts,
    rule_tag_ids: HashSet<&'r str>,
}

impl<'r> Evaluator<'r> {
    pub fn new(set: &'r RuleSet) -> Self {
        Evaluator {
            set,
            interner: set.interner.clone(),
            facts: CustomerFacts::new(),
            rule_tag_ids: set.rules.iter().map(|r| r.tag_id.as_str()).collect(),
        }
    }

    /// Loads the customer's facts; of their tags only the manual and model ones (rule
    /// tags are recomputed in order by [`Evaluator::changes`]).
    pub fn load(&mut self, input: &CustomerInput<'_>) {
        let facts = &mut self.facts;
        facts.clear();
        let interner = &mut self.interner;
        let mut categories = Vec::new();
        for visit in input.visits {
            categories.clear();
            categories.extend(
                visit
                    .dish_categories
                    .iter()
                    .map(|c| c.as_deref().map(|name| interner.category(name))),
            );
            let store = interner.store(&visit.store_id);
            facts.add_visit(visit.day, visit.amount_fen, store, &categories);
        }
        for interaction in input.interactions {
            facts.add_interaction(interaction.kind, interaction.day);
        }
        facts.set_birthday(
            input
                .customer
                .birthday
                .and_then(|(month, day)| Birthday::new(month, day)),
        );
        facts.set_class(
            input
                .customer
                .class
                .as_deref()
                .and_then(|c| c.chars().next()),
        );
        facts.set_p_alive(input.scores.map(|s| s.p_alive));
        facts.set_expected_visits_per_day(input.scores.map(|s| s.expected_visits_per_day));
        for (name, value) in &input.customer.attributes {
            let id = interner.attribute(name);
            facts.set_attribute(id, value);
        }
        for m in input
            .memberships
            .iter()
            .filter(|m| !self.rule_tag_ids.contains(m.tag_id.as_str()))
        {
            if let Some(name) = self.set.names.get(&m.tag_id) {
                let id = interner.tag(name);
                facts.add_tag(id);
            }
        }
    }

    /// Evaluates every rule in order (each true rule tag joins the facts so later rules
    /// see it) and returns which rule tags hold, by index into `set.rules`.
    pub fn evaluate(&mut self, today: EpochDay) -> Vec<bool> {
        let mut holds = Vec::with_capacity(self.set.rules.len());
        for rule in &self.set.rules {
            let value = rule.rule.eval(&self.facts, today);
            if value {
                self.facts.add_tag(rule.interned);
            }
            holds.push(value);
        }
        holds
    }

    /// The facts after [`Evaluator::load`] and [`Evaluator::evaluate`] (for explanations).
    pub fn facts(&self) -> &CustomerFacts {
        &self.facts
    }

    /// The evaluator's interner (to compile a rule outside the set against these facts).
    pub fn interner_mut(&mut self) -> &mut Interner {
        &mut self.interner
    }

    /// The membership changes that bring the customer's rule tags up to date.
    pub fn changes(&mut self, input: &CustomerInput<'_>, today: EpochDay) -> Vec<Change> {
        self.load(input);
        let holds = self.evaluate(today);
        let current: HashMap<&str, &MembershipRow> = input
            .memberships
            .iter()
            .map(|m| (m.tag_id.as_str(), m))
            .collect();
        let mut changes = Vec::new();
        for (rule, holds) in self.set.rules.iter().zip(holds) {
            let has = current.contains_key(rule.tag_id.as_str());
            if has == holds {
                continue;
            }
            changes.push(Change {
                tag_id: rule.tag_id.clone(),
                tag_name: rule.name.clone(),
                customer_id: input.customer.customer_id.clone(),
                number: input.customer.number,
                added: holds,
                source: SOURCE_RULE,
                rule_version: rule.version,
                actor: format!("rule:v{}", rule.version),
                reason: if holds {
                    format!("rule v{} holds", rule.version)
                } else {
                    format!("rule v{} no longer holds", rule.version)
                },
            });
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::catalog::{LIFECYCLE_ACTIVE, LIFECYCLE_DRAFT, SOURCE_MANUAL, TagRow};

    fn tag(id: &str, source: i64, lifecycle: i64, rule: &str) -> TagRow {
        TagRow {
            chain_id: "c".into(),
            tag_id: id.into(),
            name: id.into(),
            display_name: String::new(),
            category: 2,
            source,
            lifecycle,
            description: String::new(),
            owner: String::new(),
            rule: rule.into(),
            rule_version: 1,
            rule_refs: Vec::new(),
            time_dependent: false,
            model: String::new(),
            created_at_us: 0,
            updated_at_us: 0,
        }
    }

    #[test]
    fn dependent_rules_see_fresh_rule_tags_and_manual_tags() {
        let tags = vec![
            tag(
                "loyal_vip",
                SOURCE_RULE,
                LIFECYCLE_ACTIVE,
                r#"has_tag("regular") and has_tag("vip")"#,
            ),
            tag("regular", SOURCE_RULE, LIFECYCLE_ACTIVE, "visits(30d) >= 2"),
            tag("vip", SOURCE_MANUAL, LIFECYCLE_ACTIVE, ""),
            tag("draft_rule", SOURCE_RULE, LIFECYCLE_DRAFT, "true"),
        ];
        let set = RuleSet::build(&tags);
        assert_eq!(set.rules.len(), 2, "drafts are not applied");
        let customer = CustomerRow {
            customer_id: "cust".into(),
            number: 7,
            birthday: None,
            class: None,
            attributes: Vec::new(),
        };
        let visit = |day| VisitRow {
            customer_id: "cust".into(),
            day,
            amount_fen: 1000,
            store_id: "s1".into(),
            dish_categories: vec![Some("dessert".into())],
        };
        let visits = vec![visit(100), visit(101)];
        let vip = MembershipRow {
            tag_id: "vip".into(),
            customer_id: "cust".into(),
            number: 7,
            source: SOURCE_MANUAL,
            rule_version: 0,
            actor: "manual:wang".into(),
            added_at_us: 0,
        };
        let memberships = vec![vip];
        let input = CustomerInput {
            customer: &customer,
            visits: &visits,
            interactions: &[],
            memberships: &memberships,
            scores: None,
        };
        let mut evaluator = Evaluator::new(&set);
        let mut added: Vec<_> = evaluator
            .changes(&input, 101)
            .into_iter()
            .filter(|c| c.added)
            .map(|c| (c.tag_id, c.actor))
            .collect();
        added.sort();
        assert_eq!(
            added,
            vec![
                ("loyal_vip".to_owned(), "rule:v1".to_owned()),
                ("regular".to_owned(), "rule:v1".to_owned())
            ]
        );
        // Much later both visits left the window: nothing is added.
        assert!(evaluator.changes(&input, 200).is_empty());
    }
}
