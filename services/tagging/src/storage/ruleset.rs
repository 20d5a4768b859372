//! The compiled rules of one chain: every applied (active or deprecated) rule tag compiled
//! once with one shared [`Interner`], in evaluation order (a rule after the rule tags its
//! `has_tag` reads). Cached per chain and rebuilt only when the catalog's rule tags change.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use sea_orm::{ConnectionTrait, DbErr};

use super::catalog::{LIFECYCLE_RETIRED, TagRow, all_tags};
use crate::domain::{
    catalog::evaluation_order,
    rule::{CompiledRule, Interner, RuleError, TagId, compile},
};

/// One applied rule tag, compiled.
#[derive(Debug, Clone)]
pub struct RuleTag {
    pub tag_id: String,
    pub name: String,
    pub version: i64,
    /// The tag's id in the set's interner (what `has_tag` compares).
    pub interned: TagId,
    pub rule: CompiledRule,
}

/// The chain's compiled rules and the names of all its tags.
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub interner: Interner,
    /// Applied rule tags in evaluation order.
    pub rules: Vec<RuleTag>,
    /// tag_id → name, every tag of the chain.
    pub names: HashMap<String, String>,
    fingerprint: Vec<(String, String, i64, i64, i64)>,
}

fn fingerprint(tags: &[TagRow]) -> Vec<(String, String, i64, i64, i64)> {
    tags.iter()
        .map(|t| {
            (
                t.tag_id.clone(),
                t.name.clone(),
                t.lifecycle,
                t.source,
                t.rule_version,
            )
        })
        .collect()
}

/// Compiles `rule` against the chain's catalog: `has_tag` may name any tag that is not
/// retired.
pub fn compile_against(
    rule: &str,
    tags: &[TagRow],
    interner: &mut Interner,
) -> Result<CompiledRule, RuleError> {
    let known: HashSet<String> = tags
        .iter()
        .filter(|t| t.lifecycle != LIFECYCLE_RETIRED)
        .map(|t| t.name.clone())
        .collect();
    compile(rule, &known, interner)
}

impl RuleSet {
    pub fn build(tags: &[TagRow]) -> RuleSet {
        let mut interner = Interner::new();
        let mut compiled = Vec::new();
        for tag in tags.iter().filter(|t| t.is_rule() && t.is_applied()) {
            match compile_against(&tag.rule, tags, &mut interner) {
                Ok(rule) => compiled.push(RuleTag {
                    tag_id: tag.tag_id.clone(),
                    name: tag.name.clone(),
                    version: tag.rule_version,
                    interned: interner.tag(&tag.name),
                    rule,
                }),
                // Rules are checked when saved; one that no longer compiles (a tag it read
                // was retired) is left out rather than stopping every other rule.
                Err(e) => {
                    tracing::warn!(tag = %tag.name, error = %e, "rule does not compile; skipped")
                }
            }
        }
        let graph: Vec<(&str, Vec<&str>)> = compiled
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    r.rule
                        .referenced_tags()
                        .iter()
                        .map(String::as_str)
                        .collect(),
                )
            })
            .collect();
        let order = evaluation_order(&graph);
        let rules = order.into_iter().map(|i| compiled[i].clone()).collect();
        RuleSet {
            interner,
            rules,
            names: tags
                .iter()
                .map(|t| (t.tag_id.clone(), t.name.clone()))
                .collect(),
            fingerprint: fingerprint(tags),
        }
    }

    pub fn has_time_dependent_rule(&self) -> bool {
        self.rules.iter().any(|r| r.rule.is_time_dependent())
    }
}

/// Per-chain cache of compiled rule sets.
#[derive(Default)]
pub struct RuleSets {
    chains: Mutex<HashMap<String, Arc<RuleSet>>>,
}

impl RuleSets {
    /// The chain's current rule set (reads the catalog; recompiles only on change).
    pub async fn load(
        &self,
        conn: &impl ConnectionTrait,
        chain_id: &str,
    ) -> Result<Arc<RuleSet>, DbErr> {
        let tags = all_tags(conn, chain_id).await?;
        let current = fingerprint(&tags);
        if let Ok(chains) = self.chains.lock()
            && let Some(set) = chains.get(chain_id)
            && set.fingerprint == current
        {
            return Ok(set.clone());
        }
        let set = Arc::new(RuleSet::build(&tags));
        if let Ok(mut chains) = self.chains.lock() {
            chains.insert(chain_id.to_owned(), set.clone());
        }
        Ok(set)
    }
}
