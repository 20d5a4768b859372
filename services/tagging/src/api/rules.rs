//! Rule RPCs: ValidateRule (errors are the response, never a status), PreviewRule (count
//! and sample over the chain's customers, before a rule goes live) and ExplainTag (each
//! term's value for one customer).

use std::sync::Arc;

use chrono::Utc;
use maitre_kit::auth::Caller;
use maitre_proto::tagging::v1::*;
use tonic::{Request, Response};

use super::{
    catalog::tag_in_chain,
    convert::{AUDIENCE_READERS, timestamp},
    rule_check::check_rule,
};
use crate::{
    app::{
        batch::{BATCH_CUSTOMERS, Batch},
        evaluate::{CustomerInput, Evaluator},
        scores::rule_scores,
        zones::{LocalDays, customer_today},
    },
    error::{Result, TaggingError},
    state::Deps,
    storage::{
        catalog::all_tags,
        facts::{find_customer, visits_of},
        interactions::interactions_of,
        membership::memberships_of,
        places::home_zones_in_range,
        predictions::find_prediction,
        roster::roster,
        ruleset::compile_against,
    },
};

const DEFAULT_SAMPLE: i32 = 20;
const MAX_SAMPLE: i32 = 100;

pub async fn validate_rule(
    deps: &Arc<Deps>,
    request: Request<ValidateRuleRequest>,
) -> Result<Response<ValidateRuleResponse>> {
    let caller = Caller::from_request(&request)?;
    let chain = caller.chain()?;
    let r = request.get_ref();
    let db = &deps.runtime.db;
    let tags = all_tags(db, chain).await?;
    let tag_name = if r.tag_id.is_empty() {
        String::new()
    } else {
        tag_in_chain(db, chain, &r.tag_id).await?.name
    };
    let response = match check_rule(&tags, &tag_name, &r.rule) {
        Ok(compiled) => ValidateRuleResponse {
            valid: true,
            errors: Vec::new(),
            referenced_tags: compiled.referenced_tags().iter().cloned().collect(),
            time_dependent: compiled.is_time_dependent(),
        },
        Err(problem) => ValidateRuleResponse {
            valid: false,
            errors: vec![RuleError {
                line: i32::try_from(problem.line).unwrap_or(i32::MAX),
                column: i32::try_from(problem.col).unwrap_or(i32::MAX),
                message: problem.message,
            }],
            referenced_tags: Vec::new(),
            time_dependent: false,
        },
    };
    Ok(Response::new(response))
}

pub async fn preview_rule(
    deps: &Arc<Deps>,
    request: Request<PreviewRuleRequest>,
) -> Result<Response<PreviewRuleResponse>> {
    let caller = Caller::from_request(&request)?;
    caller.require_role(AUDIENCE_READERS)?;
    let chain = caller.chain()?;
    let r = request.get_ref();
    let sample_size = match r.sample_size {
        0 => DEFAULT_SAMPLE,
        n if (1..=MAX_SAMPLE).contains(&n) => n,
        _ => {
            return Err(TaggingError::invalid(
                "sample_size",
                format!("must be 0..={MAX_SAMPLE}"),
            ));
        }
    } as usize;
    let db = &deps.runtime.db;
    let tags = all_tags(db, chain).await?;
    check_rule(&tags, "", &r.rule).map_err(|p| TaggingError::invalid("rule", p.message))?;
    let set = deps.rules.load(db, chain).await?;
    let mut evaluator = Evaluator::new(&set);
    let rule = compile_against(&r.rule, &tags, evaluator.interner_mut())
        .map_err(|e| TaggingError::invalid("rule", e.to_string()))?;
    // Each customer's home-store-local day, as the live path and the recompute use.
    let mut local_days = LocalDays::new(Utc::now());
    let (next_number, _) = roster(db, chain).await?;
    let (mut members, mut total) = (0i64, 0i64);
    let mut sample = Vec::new();
    let mut from = 0u32;
    while from < next_number {
        let to = from.saturating_add(BATCH_CUSTOMERS).min(next_number);
        let batch = Batch::load(db, chain, from, to).await?;
        let home_zones = home_zones_in_range(db, chain, from, to).await?;
        for i in 0..batch.customers.len() {
            let Some(input) = batch.input(i) else {
                continue;
            };
            let today = local_days.day_in(home_zones.get(&input.customer.customer_id));
            total += 1;
            evaluator.load(&input);
            evaluator.evaluate(today);
            if rule.eval(evaluator.facts(), today) {
                members += 1;
                if sample.len() < sample_size {
                    sample.push(input.customer.customer_id.clone());
                }
            }
        }
        from = to;
    }
    Ok(Response::new(PreviewRuleResponse {
        member_count: members,
        total_customers: total,
        sample_customer_ids: sample,
    }))
}

pub async fn explain_tag(
    deps: &Arc<Deps>,
    request: Request<ExplainTagRequest>,
) -> Result<Response<ExplainTagResponse>> {
    let caller = Caller::from_request(&request)?;
    let chain = caller.chain()?;
    let r = request.get_ref();
    let db = &deps.runtime.db;
    if r.customer_id.is_empty() {
        return Err(TaggingError::invalid("customer_id", "is required"));
    }
    let tag = tag_in_chain(db, chain, &r.tag_id).await?;
    let customer = find_customer(db, chain, &r.customer_id)
        .await?
        .ok_or_else(|| TaggingError::not_found("customer", &r.customer_id))?;
    super::scope::require_customer_scope(db, chain, &caller, &r.customer_id).await?;
    let memberships = memberships_of(db, chain, &r.customer_id).await?;
    let membership = memberships.iter().find(|m| m.tag_id == tag.tag_id);
    let mut response = ExplainTagResponse {
        has_tag: membership.is_some(),
        source: tag.source as i32,
        rule: tag.rule.clone(),
        rule_version: i32::try_from(tag.rule_version).unwrap_or(i32::MAX),
        terms: Vec::new(),
        added_by: membership.map(|m| m.actor.clone()).unwrap_or_default(),
        added_at: membership.and_then(|m| timestamp(m.added_at_us)),
    };
    if tag.is_rule() {
        let tags = all_tags(db, chain).await?;
        let set = deps.rules.load(db, chain).await?;
        let mut evaluator = Evaluator::new(&set);
        let rule = compile_against(&tag.rule, &tags, evaluator.interner_mut())
            .map_err(|e| TaggingError::precondition("tag.rule", e.to_string()))?;
        let visits = visits_of(db, chain, &r.customer_id).await?;
        let interactions = interactions_of(db, chain, &r.customer_id).await?;
        let today = customer_today(db, chain, &r.customer_id, Utc::now()).await?;
        evaluator.load(&CustomerInput {
            customer: &customer,
            visits: &visits,
            interactions: &interactions,
            memberships: &memberships,
            scores: find_prediction(db, chain, &r.customer_id)
                .await?
                .as_ref()
                .map(rule_scores),
        });
        evaluator.evaluate(today);
        response.terms = rule
            .explain(evaluator.facts(), today)
            .terms
            .into_iter()
            .map(|t| ExplainedTerm {
                term: t.source_text,
                value: t.value.to_string(),
            })
            .collect();
    }
    Ok(Response::new(response))
}
