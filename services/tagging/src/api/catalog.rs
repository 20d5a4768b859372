//! Tag catalog RPCs: CreateTag, GetTag, UpdateTag, ListTags (TransitionTag is in `lifecycle`).

use std::sync::Arc;

use chrono::Utc;
use maitre_kit::{
    auth::Caller,
    idempotency::{recall, remember},
    page::{PageRequest, next_token},
};
use maitre_proto::{
    events::v1::{EventScope, TagChanged, event::Payload},
    tagging::v1::*,
};
use sea_orm::ConnectionTrait;
use tonic::{Request, Response};

use super::{
    convert::{CATALOG_ADMINS, job_message, lifecycle_of, tag_message},
    rule_check::check_rule,
};
use crate::{
    app::recompute::start_recompute,
    domain::catalog::{Lifecycle, validate_tag_name},
    domain::predict::MODEL_TAGS,
    error::{Result, TaggingError},
    state::Deps,
    storage::{
        begin_write,
        catalog::{
            LIFECYCLE_DRAFT, LIFECYCLE_RETIRED, SOURCE_MANUAL, SOURCE_MODEL, SOURCE_RULE, TagRow,
            all_tags, get_tag, insert_rule_version, insert_tag, list_tags, update_tag,
        },
        membership::member_count,
    },
};

const MAX_TEXT_CHARS: usize = 2048;

/// The tag of the caller's chain, or NOT_FOUND.
pub(crate) async fn tag_in_chain(
    conn: &impl ConnectionTrait,
    chain: &str,
    tag_id: &str,
) -> Result<TagRow, TaggingError> {
    if tag_id.is_empty() {
        return Err(TaggingError::invalid("tag_id", "is required"));
    }
    get_tag(conn, chain, tag_id)
        .await?
        .ok_or_else(|| TaggingError::not_found("tag", tag_id))
}

pub(crate) async fn emit_tag_changed(
    deps: &Deps,
    conn: &impl ConnectionTrait,
    tag: &TagRow,
) -> Result<(), TaggingError> {
    let lifecycle = lifecycle_of(tag.lifecycle).map_or("unknown", Lifecycle::name);
    deps.runtime
        .events
        .append(
            conn,
            &tag.chain_id,
            EventScope::default(),
            Payload::TagChanged(TagChanged {
                tag_id: tag.tag_id.clone(),
                name: tag.name.clone(),
                lifecycle: lifecycle.to_owned(),
                rule_version: i32::try_from(tag.rule_version).unwrap_or(i32::MAX),
            }),
        )
        .await?;
    Ok(())
}

fn check_text(field: &str, value: &str) -> Result<(), TaggingError> {
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(TaggingError::invalid(
            field,
            format!("must be at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Sets the rule of a rule tag after checking it (positions in the message, field `tag.rule`).
fn set_rule(tags: &[TagRow], row: &mut TagRow, rule: &str) -> Result<(), TaggingError> {
    if row.source != SOURCE_RULE {
        return Err(TaggingError::invalid(
            "tag.rule",
            "only rule tags (source RULE) have a rule",
        ));
    }
    let compiled = check_rule(tags, &row.name, rule)
        .map_err(|p| TaggingError::invalid("tag.rule", p.message))?;
    row.rule = rule.to_owned();
    row.rule_refs = compiled.referenced_tags().iter().cloned().collect();
    row.time_dependent = compiled.is_time_dependent();
    Ok(())
}

/// Records a change to a tag (its definition and rule, as `GetTag` shows it without the
/// member count) in the change's transaction.
pub(crate) async fn audit_tag(
    txn: &impl sea_orm::ConnectionTrait,
    caller: &Caller,
    action: &str,
    before: Option<&TagRow>,
    after: &TagRow,
) -> Result<()> {
    maitre_kit::audit::record(
        txn,
        &maitre_kit::audit::Actor::of(caller),
        &after.chain_id,
        maitre_kit::audit::Change {
            action,
            target_type: "tag",
            target_id: &after.tag_id,
            before: before.and_then(|b| maitre_kit::audit::json_of(&tag_message(b, 0))),
            after: maitre_kit::audit::json_of(&tag_message(after, 0)),
        },
    )
    .await?;
    Ok(())
}

pub async fn create_tag(
    deps: &Arc<Deps>,
    request: Request<CreateTagRequest>,
) -> Result<Response<CreateTagResponse>> {
    let caller = Caller::from_request(&request)?;
    caller.require_role(CATALOG_ADMINS)?;
    let chain = caller.chain()?.to_owned();
    let CreateTagRequest { tag, request_id } = request.into_inner();
    let db = &deps.runtime.db;
    if let Some(done) = recall::<CreateTagResponse>(db, &chain, "create_tag", &request_id).await? {
        return Ok(Response::new(done));
    }
    let tag = tag.ok_or_else(|| TaggingError::invalid("tag", "is required"))?;
    validate_tag_name(&tag.name).map_err(|e| TaggingError::invalid("tag.name", e.to_string()))?;
    if !(1..=4).contains(&tag.category) {
        return Err(TaggingError::invalid(
            "tag.category",
            "must be demographic, behaviour, interaction or predictive",
        ));
    }
    let source = i64::from(tag.source);
    if ![SOURCE_MANUAL, SOURCE_RULE, SOURCE_MODEL].contains(&source) {
        return Err(TaggingError::invalid(
            "tag.source",
            "must be manual, rule or model",
        ));
    }
    // A model tag follows a built-in model's score; any other name would never be applied.
    if source == SOURCE_MODEL && !MODEL_TAGS.contains(&tag.model.as_str()) {
        return Err(TaggingError::invalid(
            "tag.model",
            format!("must be one of {}", MODEL_TAGS.join(", ")),
        ));
    }
    for (field, value) in [
        ("tag.display_name", &tag.display_name),
        ("tag.description", &tag.description),
        ("tag.owner", &tag.owner),
        ("tag.model", &tag.model),
    ] {
        check_text(field, value)?;
    }
    let now_us = Utc::now().timestamp_micros();
    let txn = begin_write(db).await?;
    let tags = all_tags(&txn, &chain).await?;
    if tags.iter().any(|t| t.name == tag.name) {
        return Err(TaggingError::TagNameTaken { name: tag.name });
    }
    let mut row = TagRow {
        chain_id: chain.clone(),
        tag_id: uuid::Uuid::now_v7().to_string(),
        display_name: if tag.display_name.is_empty() {
            tag.name.clone()
        } else {
            tag.display_name
        },
        name: tag.name,
        category: i64::from(tag.category),
        source,
        lifecycle: LIFECYCLE_DRAFT,
        description: tag.description,
        owner: tag.owner,
        rule: String::new(),
        rule_version: 0,
        rule_refs: Vec::new(),
        time_dependent: false,
        model: tag.model,
        created_at_us: now_us,
        updated_at_us: now_us,
    };
    if source == SOURCE_RULE {
        if tag.rule.trim().is_empty() {
            return Err(TaggingError::invalid("tag.rule", "a rule tag needs a rule"));
        }
        set_rule(&tags, &mut row, &tag.rule)?;
        row.rule_version = 1;
    } else if !tag.rule.is_empty() {
        return Err(TaggingError::invalid(
            "tag.rule",
            "only rule tags (source RULE) have a rule",
        ));
    }
    insert_tag(&txn, &row).await?;
    emit_tag_changed(deps, &txn, &row).await?;
    audit_tag(&txn, &caller, "tagging.tag.create", None, &row).await?;
    let response = CreateTagResponse {
        tag: Some(tag_message(&row, 0)),
    };
    remember(&txn, &chain, "create_tag", &request_id, &response).await?;
    txn.commit().await?;
    deps.runtime.events.committed();
    Ok(Response::new(response))
}

pub async fn get_tag_rpc(
    deps: &Arc<Deps>,
    request: Request<GetTagRequest>,
) -> Result<Response<GetTagResponse>> {
    let caller = Caller::from_request(&request)?;
    let chain = caller.chain()?;
    let db = &deps.runtime.db;
    let row = tag_in_chain(db, chain, &request.get_ref().tag_id).await?;
    let count = member_count(db, chain, &row.tag_id).await?;
    Ok(Response::new(GetTagResponse {
        tag: Some(tag_message(&row, count)),
    }))
}

pub async fn update_tag_rpc(
    deps: &Arc<Deps>,
    request: Request<UpdateTagRequest>,
) -> Result<Response<UpdateTagResponse>> {
    let caller = Caller::from_request(&request)?;
    caller.require_role(CATALOG_ADMINS)?;
    let chain = caller.chain()?.to_owned();
    let UpdateTagRequest { tag, update_mask } = request.into_inner();
    let tag = tag.ok_or_else(|| TaggingError::invalid("tag", "is required"))?;
    let paths = update_mask.map(|m| m.paths).unwrap_or_default();
    if paths.is_empty() {
        return Err(TaggingError::invalid(
            "update_mask",
            "name at least one field",
        ));
    }
    let db = &deps.runtime.db;
    let txn = begin_write(db).await?;
    let mut row = tag_in_chain(&txn, &chain, &tag.tag_id)
        .await
        .map_err(|e| match e {
            TaggingError::InvalidArgument { .. } => {
                TaggingError::invalid("tag.tag_id", "is required")
            }
            other => other,
        })?;
    if row.lifecycle == LIFECYCLE_RETIRED {
        return Err(TaggingError::precondition(
            "tag.lifecycle",
            "a retired tag cannot change",
        ));
    }
    let before = row.clone();
    let tags = all_tags(&txn, &chain).await?;
    let mut rule_changed = false;
    for path in &paths {
        match path.as_str() {
            "display_name" => {
                check_text("tag.display_name", &tag.display_name)?;
                row.display_name = tag.display_name.clone();
            }
            "description" => {
                check_text("tag.description", &tag.description)?;
                row.description = tag.description.clone();
            }
            "owner" => {
                check_text("tag.owner", &tag.owner)?;
                row.owner = tag.owner.clone();
            }
            "category" => {
                if !(1..=4).contains(&tag.category) {
                    return Err(TaggingError::invalid(
                        "tag.category",
                        "must be demographic, behaviour, interaction or predictive",
                    ));
                }
                row.category = i64::from(tag.category);
            }
            "rule" => {
                if tag.rule != row.rule {
                    set_rule(&tags, &mut row, &tag.rule)?;
                    row.rule_version += 1;
                    rule_changed = true;
                }
            }
            other => {
                return Err(TaggingError::invalid(
                    "update_mask",
                    format!(
                        "`{other}` cannot be updated (display_name, description, owner, category, rule)"
                    ),
                ));
            }
        }
    }
    row.updated_at_us = Utc::now().timestamp_micros();
    update_tag(&txn, &row).await?;
    if rule_changed {
        insert_rule_version(&txn, &row).await?;
    }
    emit_tag_changed(deps, &txn, &row).await?;
    audit_tag(&txn, &caller, "tagging.tag.update", Some(&before), &row).await?;
    let count = member_count(&txn, &chain, &row.tag_id).await?;
    txn.commit().await?;
    deps.runtime.events.committed();
    // A new rule version backfills: every customer is re-evaluated against it.
    let backfill = if rule_changed && row.is_applied() {
        Some(job_message(&start_recompute(deps, &chain).await?))
    } else {
        None
    };
    Ok(Response::new(UpdateTagResponse {
        tag: Some(tag_message(&row, count)),
        backfill,
    }))
}

pub async fn list_tags_rpc(
    deps: &Arc<Deps>,
    request: Request<ListTagsRequest>,
) -> Result<Response<ListTagsResponse>> {
    let caller = Caller::from_request(&request)?;
    let chain = caller.chain()?;
    let r = request.get_ref();
    let page = PageRequest::parse(r.page_size, &r.page_token, 500)?;
    let db = &deps.runtime.db;
    let rows = list_tags(
        db,
        chain,
        i64::from(r.category),
        i64::from(r.lifecycle),
        &page.after,
        page.size + 1,
    )
    .await?;
    let more = rows.len() as u64 > page.size;
    let mut tags = Vec::new();
    for row in rows.iter().take(page.size as usize) {
        let count = member_count(db, chain, &row.tag_id).await?;
        tags.push(tag_message(row, count));
    }
    let next_page_token = match (more, tags.last()) {
        (true, Some(last)) => next_token(&last.name),
        _ => String::new(),
    };
    Ok(Response::new(ListTagsResponse {
        tags,
        next_page_token,
    }))
}
