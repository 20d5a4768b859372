//! The built-in model tags of a chain (`churn_risk`, `high_value`, `high_responder`,
//! `new_dish_adopter`): created in the catalog at the first refit (source model, category
//! predictive, active), and the membership changes that make a customer's model tags agree
//! with their scores. History names the actor `model:<name>`.

use std::collections::HashSet;

use sea_orm::ConnectionTrait;

use crate::domain::membership::Change;
use crate::{
    domain::predict::{MODEL_TAGS, ModelTagging},
    error::Result,
    storage::catalog::{LIFECYCLE_ACTIVE, SOURCE_MODEL, TagRow, all_tags, insert_tag},
};

/// Category number of predictive tags (proto `TAG_CATEGORY_PREDICTIVE`).
const CATEGORY_PREDICTIVE: i64 = 4;

fn display_name(model: &str) -> &'static str {
    match model {
        "churn_risk" => "流失风险",
        "high_value" => "高价值",
        "high_responder" => "营销活动高响应者",
        _ => "新品尝鲜者",
    }
}

fn description(model: &str) -> &'static str {
    match model {
        "churn_risk" => {
            "BG/NBD P(alive) below the chain threshold, for a customer with at least 3 visit days"
        }
        "high_value" => {
            "Expected value over the next year (BG/NBD × Gamma-Gamma) in the chain's top decile"
        }
        "high_responder" => "Smoothed campaign response rate at least 1.5× the chain's",
        _ => "Smoothed new-dish acceptance at least 1.5× the chain's",
    }
}

/// The chain's applied model tags (the built-in ones), by their `model`.
pub async fn model_tags(conn: &impl ConnectionTrait, chain_id: &str) -> Result<Vec<TagRow>> {
    Ok(all_tags(conn, chain_id)
        .await?
        .into_iter()
        .filter(|t| {
            t.source == SOURCE_MODEL && t.is_applied() && MODEL_TAGS.contains(&t.model.as_str())
        })
        .collect())
}

/// Creates the built-in model tags the chain lacks (a tag of that name that is not the
/// model's own is left alone, and that model tag is not created); returns the applied ones.
pub async fn ensure_model_tags(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    now_us: i64,
) -> Result<Vec<TagRow>> {
    let tags = all_tags(conn, chain_id).await?;
    for model in MODEL_TAGS {
        let exists = tags
            .iter()
            .any(|t| (t.source == SOURCE_MODEL && t.model == model) || t.name == model);
        if exists {
            continue;
        }
        insert_tag(
            conn,
            &TagRow {
                chain_id: chain_id.to_owned(),
                tag_id: uuid::Uuid::now_v7().to_string(),
                name: model.to_owned(),
                display_name: display_name(model).to_owned(),
                category: CATEGORY_PREDICTIVE,
                source: SOURCE_MODEL,
                lifecycle: LIFECYCLE_ACTIVE,
                description: description(model).to_owned(),
                owner: "model".to_owned(),
                rule: String::new(),
                rule_version: 0,
                rule_refs: Vec::new(),
                time_dependent: false,
                model: model.to_owned(),
                created_at_us: now_us,
                updated_at_us: now_us,
            },
        )
        .await?;
    }
    model_tags(conn, chain_id).await
}

/// The changes that bring one customer's model tags to `tagging`; `has(tag_id)` says
/// whether they carry a tag now.
pub fn model_tag_changes(
    tags: &[TagRow],
    customer_id: &str,
    number: u32,
    tagging: &ModelTagging,
    current: &HashSet<&str>,
) -> Vec<Change> {
    tags.iter()
        .filter_map(|tag| {
            let holds = tagging.holds(&tag.model);
            if holds == current.contains(tag.tag_id.as_str()) {
                return None;
            }
            Some(Change {
                tag_id: tag.tag_id.clone(),
                tag_name: tag.name.clone(),
                customer_id: customer_id.to_owned(),
                number,
                added: holds,
                source: SOURCE_MODEL,
                rule_version: 0,
                actor: format!("model:{}", tag.model),
                reason: if holds {
                    format!("{} model score crossed its cut-off", tag.model)
                } else {
                    format!("{} model score back below its cut-off", tag.model)
                },
            })
        })
        .collect()
}
