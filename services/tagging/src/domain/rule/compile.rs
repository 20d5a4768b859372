//! [`compile`]: source → [`CompiledRule`], parsed and checked once; evaluation afterwards
//! only walks the typed tree.

use std::collections::BTreeSet;

use super::check::{TagCatalog, check};
use super::day::EpochDay;
use super::error::RuleError;
use super::facts::CustomerFacts;
use super::intern::Interner;
use super::ir::BoolExpr;
use super::parser::parse;

/// A rule ready to evaluate against many customers. Cheap to share (`Send + Sync`).
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub(crate) source: String,
    pub(crate) root: BoolExpr,
    referenced_tags: BTreeSet<String>,
    time_dependent: bool,
    max_window_days: u32,
}

/// Parses, type-checks and lowers `source`. Names in it are interned into `interner`,
/// which must be the one used to build the [`CustomerFacts`] it will read.
pub fn compile(
    source: &str,
    catalog: &dyn TagCatalog,
    interner: &mut Interner,
) -> Result<CompiledRule, RuleError> {
    let parsed = parse(source)?;
    let checked = check(&parsed, catalog, interner)?;
    Ok(CompiledRule {
        source: parsed.source,
        root: checked.root,
        referenced_tags: checked.referenced_tags,
        time_dependent: checked.time_dependent,
        max_window_days: checked.max_window_days,
    })
}

impl CompiledRule {
    /// Whether the customer satisfies the rule on `today` (store-local epoch day).
    pub fn eval(&self, facts: &CustomerFacts, today: EpochDay) -> bool {
        self.root.eval(facts, today)
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the rule's truth can change with time alone (no new event): it reads
    /// a window, `days_since_last_visit`, `birthday_within`, `p_alive` or `expected_visits`.
    /// Such rules must also be re-evaluated on a schedule.
    pub fn is_time_dependent(&self) -> bool {
        self.time_dependent
    }

    /// Tags named by `has_tag(...)`, for cycle checks across rule tags.
    pub fn referenced_tags(&self) -> &BTreeSet<String> {
        &self.referenced_tags
    }

    /// Longest look-back over the visit history among the rule's windowed aggregates
    /// (`visits`, `spend`, `avg_ticket`, `dish_share`, `store_visits`); 0 when none.
    /// `days_since_last_visit` needs the latest visit whatever its age, on top of this.
    pub fn max_window_days(&self) -> u32 {
        self.max_window_days
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_ok(src: &str) -> CompiledRule {
        let mut interner = Interner::new();
        match compile(src, &|tag: &str| tag != "unknown", &mut interner) {
            Ok(rule) => rule,
            Err(e) => panic!("{src}: {e}"),
        }
    }

    #[test]
    fn time_dependence_follows_the_function_table() {
        for (src, expected) in [
            ("visits(30d) > 5", true),
            ("days_since_last_visit >= 60", true),
            ("birthday_within(7d)", true),
            ("p_alive < 0.3", true),
            ("expected_visits(30d) >= 2", true),
            (r#"has_tag("vip") and attr("gender") == "female""#, false),
            (r#"class == "A" or 1 + 1 == 2"#, false),
            (r#"has_tag("vip") or spend(1y) > 1"#, true),
        ] {
            assert_eq!(compile_ok(src).is_time_dependent(), expected, "{src}");
        }
    }

    #[test]
    fn reports_tags_and_longest_history_window() {
        let rule = compile_ok(
            r#"has_tag("vip") and not has_tag("churned") and visits(12w) > 1 and spend(1y) > 0 and expected_visits(10y) > 1 and birthday_within(3650d)"#,
        );
        let tags: Vec<_> = rule.referenced_tags().iter().cloned().collect();
        assert_eq!(tags, vec!["churned".to_owned(), "vip".to_owned()]);
        assert_eq!(rule.max_window_days(), 365);
        assert_eq!(compile_ok("p_alive > 0.5").max_window_days(), 0);
        assert_eq!(
            compile_ok(r#"dish_share("x", 6m) > 0"#).max_window_days(),
            180
        );
        assert_eq!(rule.source().len(), 135);
    }

    #[test]
    fn compiled_rules_are_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CompiledRule>();
    }
}
