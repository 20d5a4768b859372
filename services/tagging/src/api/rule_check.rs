//! Checking a rule for a tag against the chain's catalog: parse and type errors from the
//! rule language, plus `has_tag` cycles through other rule tags, each with `line:col`.

use std::collections::{HashMap, HashSet};

use crate::{
    domain::rule::{CompiledRule, Interner, Position, compile, find_cycle},
    storage::catalog::{LIFECYCLE_RETIRED, TagRow},
};

/// A problem with a rule, positioned for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    pub line: u32,
    pub col: u32,
    /// Includes the position (`... at 1:14`).
    pub message: String,
}

/// Compiles `rule` for the tag named `tag_name` (empty: a rule not yet tied to a tag):
/// `has_tag` may name any tag that is not retired, and the tag itself (which is then a
/// cycle), and must not close a cycle through other rule tags.
pub fn check_rule(
    tags: &[TagRow],
    tag_name: &str,
    rule: &str,
) -> Result<CompiledRule, RuleProblem> {
    let mut known: HashSet<String> = tags
        .iter()
        .filter(|t| t.lifecycle != LIFECYCLE_RETIRED)
        .map(|t| t.name.clone())
        .collect();
    if !tag_name.is_empty() {
        known.insert(tag_name.to_owned());
    }
    let mut interner = Interner::new();
    let compiled = compile(rule, &known, &mut interner).map_err(|e| {
        let at = e.location().map_or(Position { line: 1, col: 1 }, |l| l.at);
        RuleProblem {
            line: at.line,
            col: at.col,
            message: e.to_string(),
        }
    })?;
    if tag_name.is_empty() {
        return Ok(compiled);
    }
    let mut graph: HashMap<String, Vec<String>> = tags
        .iter()
        .filter(|t| t.is_rule() && t.lifecycle != LIFECYCLE_RETIRED && t.name != tag_name)
        .map(|t| (t.name.clone(), t.rule_refs.clone()))
        .collect();
    graph.insert(
        tag_name.to_owned(),
        compiled.referenced_tags().iter().cloned().collect(),
    );
    if let Some(cycle) = find_cycle(&graph) {
        let next = cycle
            .iter()
            .position(|t| t == tag_name)
            .and_then(|i| cycle.get(i + 1));
        let offset = next
            .and_then(|n| rule.find(&format!("\"{n}\"")))
            .unwrap_or(0);
        let at = Position::locate(rule, offset);
        return Err(RuleProblem {
            line: at.line,
            col: at.col,
            message: format!("has_tag cycle {} at {at}", cycle.join(" → ")),
        });
    }
    Ok(compiled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::catalog::{LIFECYCLE_ACTIVE, SOURCE_MANUAL, SOURCE_RULE};

    fn tag(name: &str, source: i64, lifecycle: i64, refs: &[&str]) -> TagRow {
        TagRow {
            chain_id: "c".into(),
            tag_id: name.into(),
            name: name.into(),
            display_name: String::new(),
            category: 2,
            source,
            lifecycle,
            description: String::new(),
            owner: String::new(),
            rule: String::new(),
            rule_version: 1,
            rule_refs: refs.iter().map(|r| (*r).to_owned()).collect(),
            time_dependent: false,
            model: String::new(),
            created_at_us: 0,
            updated_at_us: 0,
        }
    }

    #[test]
    fn reports_positions_unknown_tags_and_cycles() {
        let tags = vec![
            tag("vip", SOURCE_MANUAL, LIFECYCLE_ACTIVE, &[]),
            tag("b", SOURCE_RULE, LIFECYCLE_ACTIVE, &["a"]),
            tag("old", SOURCE_MANUAL, LIFECYCLE_RETIRED, &[]),
        ];
        assert!(check_rule(&tags, "a", r#"has_tag("vip") and visits(30d) > 1"#).is_ok());
        let e = check_rule(&tags, "a", "visits(30d) > and").unwrap_err();
        assert_eq!((e.line, e.col), (1, 15), "{}", e.message);
        let e = check_rule(&tags, "a", r#"has_tag("old")"#).unwrap_err();
        assert!(e.message.contains("unknown tag"), "{}", e.message);
        let e = check_rule(&tags, "a", r#"visits(7d) > 0 and has_tag("b")"#).unwrap_err();
        assert_eq!((e.line, e.col), (1, 28), "{}", e.message);
        assert!(e.message.contains("a → b → a"), "{}", e.message);
        let e = check_rule(&tags, "a", r#"has_tag("a")"#).unwrap_err();
        assert!(e.message.contains("cycle"), "{}", e.message);
        // Without a tag, no cycle check.
        assert!(check_rule(&tags, "", r#"has_tag("b")"#).is_ok());
    }
}
