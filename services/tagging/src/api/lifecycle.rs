//! TransitionTag: the lifecycle draft → active → deprecated → retired (forward only).
//! Activating a rule tag backfills its members (a recompute job); retiring a tag takes it
//! off every customer in the same transaction, keeping the history.

use std::sync::Arc;

use chrono::Utc;
use maitre_kit::auth::Caller;
use maitre_proto::tagging::v1::*;
use tonic::{Request, Response};

use super::{
    catalog::{emit_tag_changed, tag_in_chain},
    convert::{CATALOG_ADMINS, lifecycle_number, lifecycle_of, tag_message},
    rule_check::check_rule,
};
use crate::{
    app::{apply::apply_changes, recompute::start_recompute},
    domain::catalog::{Lifecycle, check_transition},
    domain::membership::Change,
    error::{Result, TaggingError},
    state::Deps,
    storage::{
        begin_write,
        catalog::{LIFECYCLE_RETIRED, all_tags, update_tag},
        membership::{member_count, members_of_tag},
    },
};

pub async fn transition_tag_rpc(
    deps: &Arc<Deps>,
    request: Request<TransitionTagRequest>,
) -> Result<Response<TransitionTagResponse>> {
    let caller = Caller::from_request(&request)?;
    caller.require_role(CATALOG_ADMINS)?;
    let chain = caller.chain()?.to_owned();
    let r = request.into_inner();
    let to = lifecycle_of(i64::from(r.lifecycle)).ok_or_else(|| {
        TaggingError::invalid("lifecycle", "must be active, deprecated or retired")
    })?;
    let db = &deps.runtime.db;
    let txn = begin_write(db).await?;
    let mut row = tag_in_chain(&txn, &chain, &r.tag_id).await?;
    let from = lifecycle_of(row.lifecycle).unwrap_or(Lifecycle::Draft);
    check_transition(from, to)
        .map_err(|e| TaggingError::precondition("lifecycle", e.to_string()))?;
    let tags = all_tags(&txn, &chain).await?;
    if to == Lifecycle::Active && row.is_rule() {
        check_rule(&tags, &row.name, &row.rule)
            .map_err(|p| TaggingError::precondition("tag.rule", p.message))?;
    }
    if to == Lifecycle::Retired {
        let readers: Vec<&str> = tags
            .iter()
            .filter(|t| t.lifecycle != LIFECYCLE_RETIRED && t.rule_refs.contains(&row.name))
            .map(|t| t.name.as_str())
            .collect();
        if !readers.is_empty() {
            return Err(TaggingError::precondition(
                "lifecycle",
                format!(
                    "the rules of {} read this tag; change them first",
                    readers.join(", ")
                ),
            ));
        }
    }
    let before = row.clone();
    row.lifecycle = lifecycle_number(to);
    row.updated_at_us = Utc::now().timestamp_micros();
    update_tag(&txn, &row).await?;
    emit_tag_changed(deps, &txn, &row).await?;
    super::catalog::audit_tag(&txn, &caller, "tagging.tag.transition", Some(&before), &row).await?;
    // Retiring takes the tag off every customer; the history rows stay.
    let mut removed = Vec::new();
    if to == Lifecycle::Retired {
        let changes = members_of_tag(&txn, &chain, &row.tag_id)
            .await?
            .into_iter()
            .map(|m| Change {
                tag_id: m.tag_id,
                tag_name: row.name.clone(),
                customer_id: m.customer_id,
                number: m.number,
                added: false,
                source: m.source,
                rule_version: m.rule_version,
                actor: "retired".to_owned(),
                reason: "tag retired".to_owned(),
            })
            .collect();
        removed = apply_changes(
            &txn,
            &deps.runtime.events,
            &chain,
            changes,
            row.updated_at_us,
        )
        .await?;
    }
    txn.commit().await?;
    deps.runtime.events.committed();
    deps.bitmaps.apply(&chain, &removed);
    if to == Lifecycle::Active && row.is_rule() {
        start_recompute(deps, &chain).await?;
    }
    let count = member_count(db, &chain, &row.tag_id).await?;
    Ok(Response::new(TransitionTagResponse {
        tag: Some(tag_message(&row, count)),
    }))
}
