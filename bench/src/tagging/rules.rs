//! The benchmark's 20 rule tags (the kinds issue 5 lists: windows over visits, spend and
//! average ticket, `days_since_last_visit`, `birthday_within`, `dish_share`, `store_visits`,
//! `attr`, `has_tag` on manual and on rule tags, `class`), compiled once with the tagging
//! crate's own compiler, and the one loop both benchmarks run: load a guest's facts, then
//! evaluate the rules in order, each true rule tag joining the facts so later rules see it
//! (what `engine::evaluate::Evaluator::evaluate` does in the service).

use anyhow::{Context, Result};
use maitre_tagging::domain::rule::{
    AttrId, Birthday, CategoryId, CompiledRule, CustomerFacts, Interner, StoreId, TagId, compile,
};

use super::chain::{CATEGORIES, CATEGORY_COUNT, ChainVisit, STORE_COUNT, TaggingChain, store_name};

/// One rule tag: its name and rule source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchRule {
    pub name: &'static str,
    pub source: &'static str,
}

const fn rule(name: &'static str, source: &'static str) -> BenchRule {
    BenchRule { name, source }
}

pub const RULE_COUNT: usize = 20;

/// In evaluation order: a rule comes after the rule tags its `has_tag` reads.
pub const RULES: [BenchRule; RULE_COUNT] = [
    rule("regular", "visits(30d) >= 2"),
    rule(
        "high_value_regular",
        "visits(30d) > 5 and avg_ticket(30d) > 150",
    ),
    rule("big_spender", "spend(365d) >= 5000"),
    rule("churn_risk", "days_since_last_visit >= 60"),
    rule("lapsed", "days_since_last_visit >= 180"),
    rule("birthday_week", "birthday_within(7d)"),
    rule("seafood_lover", r#"dish_share("seafood", 90d) >= 0.3"#),
    rule("dessert_lover", r#"dish_share("dessert", 180d) >= 0.25"#),
    rule("flagship_regular", r#"store_visits("store-000", 30d) >= 2"#),
    rule("female_guest", r#"attr("gender") == "female""#),
    rule("active_vip", r#"has_tag("vip") and not has_tag("churned")"#),
    rule("class_a", r#"class == "A""#),
    rule("premium_ticket", "avg_ticket(90d) > 200"),
    rule(
        "growing",
        "visits(90d) * 4 > visits(365d) * 1.5 and visits(90d) >= 3",
    ),
    rule(
        "new_this_month",
        "visits(30d) >= 1 and visits(365d) == visits(30d)",
    ),
    rule(
        "class_a_win_back",
        r#"class == "A" and days_since_last_visit >= 45"#,
    ),
    rule(
        "east_side_regular",
        r#"store_visits("store-007", 90d) >= 3 or store_visits("store-012", 90d) >= 3"#,
    ),
    rule(
        "quiet_seafood_fan",
        r#"attr("gender") == "female" and dish_share("seafood", 365d) >= 0.2 and days_since_last_visit > 30"#,
    ),
    rule(
        "birthday_big_spender",
        r#"birthday_within(7d) and has_tag("big_spender")"#,
    ),
    rule(
        "loyal_vip",
        r#"has_tag("regular") and has_tag("big_spender") and not has_tag("churn_risk")"#,
    ),
];

/// Manual tags the rules read (set by staff, loaded with the profile).
pub const MANUAL_TAGS: [&str; 2] = ["vip", "churned"];

/// The rules compiled against one interner, and the ids the facts loader needs.
#[derive(Debug, Clone)]
pub struct RuleBook {
    rules: Vec<(TagId, CompiledRule)>,
    vip: TagId,
    churned: TagId,
    gender: AttrId,
    categories: [CategoryId; CATEGORY_COUNT],
    stores: Vec<StoreId>,
}

impl RuleBook {
    /// Compiles [`RULES`]; `has_tag` may name a rule tag or a manual tag.
    pub fn compile() -> Result<RuleBook> {
        let mut interner = Interner::new();
        // Intern the chain's names first, as the service's loader would meet them.
        let categories = CATEGORIES.map(|name| interner.category(name));
        let stores = (0..STORE_COUNT)
            .map(|s| interner.store(&store_name(s)))
            .collect();
        let gender = interner.attribute("gender");
        let known =
            |name: &str| MANUAL_TAGS.contains(&name) || RULES.iter().any(|rule| rule.name == name);
        let rules = RULES
            .iter()
            .map(|rule| {
                let compiled = compile(rule.source, &known, &mut interner)
                    .with_context(|| format!("rule {} does not compile", rule.name))?;
                Ok((interner.tag(rule.name), compiled))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RuleBook {
            rules,
            vip: interner.tag("vip"),
            churned: interner.tag("churned"),
            gender,
            categories,
            stores,
        })
    }

    /// Replaces `facts` with guest `customer`'s profile, manual tags and visits, plus
    /// `new_visit` (the event that triggered a live re-evaluation) when given.
    pub fn load_facts(
        &self,
        chain: &TaggingChain,
        customer: usize,
        new_visit: Option<&ChainVisit>,
        facts: &mut CustomerFacts,
    ) {
        facts.clear();
        let mut lines: Vec<Option<CategoryId>> = Vec::with_capacity(16);
        for visit in chain.visits_of(customer).iter().chain(new_visit) {
            lines.clear();
            for (category, &count) in self.categories.iter().zip(&visit.category_lines) {
                lines.extend(std::iter::repeat_n(Some(*category), usize::from(count)));
            }
            let uncategorised = usize::from(visit.dish_lines).saturating_sub(lines.len());
            lines.extend(std::iter::repeat_n(None, uncategorised));
            let store = self
                .stores
                .get(usize::from(visit.store))
                .copied()
                .unwrap_or(StoreId(u32::MAX));
            facts.add_visit(visit.day, i64::from(visit.amount_fen), store, &lines);
        }
        let Some(guest) = chain.guests.get(customer) else {
            return;
        };
        facts.set_birthday(
            guest
                .birthday
                .and_then(|(month, day)| Birthday::new(u32::from(month), u32::from(day))),
        );
        if let Some(gender) = guest.gender.attribute() {
            facts.set_attribute(self.gender, gender);
        }
        facts.set_class(guest.class);
        if guest.vip {
            facts.add_tag(self.vip);
        }
        if guest.churned {
            facts.add_tag(self.churned);
        }
    }

    /// Evaluates every rule in order; a true rule tag joins the facts for later rules.
    /// Returns which rules hold, by index into [`RULES`].
    pub fn evaluate(&self, facts: &mut CustomerFacts, today: i32) -> [bool; RULE_COUNT] {
        let mut holds = [false; RULE_COUNT];
        for ((tag, rule), holds) in self.rules.iter().zip(holds.iter_mut()) {
            *holds = rule.eval(facts, today);
            if *holds {
                facts.add_tag(*tag);
            }
        }
        holds
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tagging::chain::{Gender, Guest};

    #[test]
    fn every_rule_reads_only_earlier_or_manual_tags_and_names_are_unique() {
        let book = RuleBook::compile().expect("compiles");
        for (i, (_, compiled)) in book.rules.iter().enumerate() {
            for tag in compiled.referenced_tags() {
                let earlier = RULES[..i].iter().any(|r| r.name == tag);
                assert!(earlier || MANUAL_TAGS.contains(&tag.as_str()), "{tag}");
            }
        }
        let mut names: Vec<_> = RULES.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RULE_COUNT);
    }

    fn visit(day: i32, amount_fen: u32, store: u16, seafood: u8, lines: u8) -> ChainVisit {
        let mut category_lines = [0; CATEGORY_COUNT];
        category_lines[0] = seafood;
        ChainVisit {
            day,
            amount_fen,
            store,
            dish_lines: lines,
            category_lines,
        }
    }

    #[test]
    fn a_hand_checked_guest() {
        let book = RuleBook::compile().expect("compiles");
        let today_date = chrono::NaiveDate::from_ymd_opt(2025, 6, 30).expect("date");
        let today = maitre_tagging::domain::rule::epoch_day(today_date);
        let guest = Guest {
            birthday: Some((7, 4)),
            gender: Gender::Female,
            class: Some('A'),
            vip: true,
            churned: false,
        };
        // Flagship visits 3 days ago and today (the event), ¥3,000 each, seafood 2 of 4
        // lines; one ¥100 visit at store 7 400 days ago (outside every window but 2 years).
        let history = vec![
            visit(today - 3, 300_000, 0, 2, 4),
            visit(today - 400, 10_000, 7, 0, 1),
        ];
        let chain = TaggingChain::from_guests(today_date, vec![(guest, history)]);
        let event = visit(today, 300_000, 0, 2, 4);
        let mut facts = CustomerFacts::new();
        book.load_facts(&chain, 0, Some(&event), &mut facts);
        let holds = book.evaluate(&mut facts, today);
        let mut names: Vec<&str> = RULES
            .iter()
            .zip(holds)
            .filter(|(_, h)| *h)
            .map(|(r, _)| r.name)
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            vec![
                "active_vip",
                "big_spender",
                "birthday_big_spender",
                "birthday_week",
                "class_a",
                "female_guest",
                "flagship_regular",
                "loyal_vip",
                "new_this_month",
                "premium_ticket",
                "regular",
                "seafood_lover",
            ]
        );
        // Time alone moves tags: 60 days later the guest is a churn risk, not a regular.
        let later = book.evaluate(&mut facts, today + 60);
        assert!(later[3] && !later[0], "{later:?}");
    }
}
