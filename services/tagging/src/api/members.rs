//! Membership RPCs: manual tags (AddCustomerTags, RemoveCustomerTags, BulkTagSegment, role-checked),
//! ListCustomerTags, ListTagMembers, ListTagHistory.

use std::{collections::BTreeSet, sync::Arc};

use chrono::Utc;
use maitre_kit::{
    auth::Caller,
    page::{PageRequest, next_token},
};
use maitre_proto::tagging::v1::*;
use sea_orm::ConnectionTrait;
use tonic::{Request, Response};

use super::{
    catalog::tag_in_chain,
    convert::{AUDIENCE_READERS, TAGGERS, timestamp},
    scope::{customers_in_scope, require_customer_scope},
    segments::segment_members,
};
use crate::{
    app::apply::apply_changes,
    domain::membership::Change,
    error::{Result, TaggingError},
    state::Deps,
    storage::{
        begin_write,
        catalog::{LIFECYCLE_ACTIVE, SOURCE_MANUAL, TagRow, all_tags},
        facts::find_customer,
        membership::{history_page, member_page, member_page_at_stores, memberships_of},
    },
};

/// Customers per manual-tag call.
const MAX_CUSTOMERS_PER_CALL: usize = 1000;
const MAX_NOTE_CHARS: usize = 1024;

/// The distinct, known customers of the call, by number; NOT_FOUND names the first unknown.
async fn known_customers(
    conn: &impl ConnectionTrait,
    chain: &str,
    ids: &[String],
) -> Result<Vec<(String, u32)>> {
    if ids.is_empty() {
        return Err(TaggingError::invalid(
            "customer_ids",
            "name at least one customer",
        ));
    }
    if ids.len() > MAX_CUSTOMERS_PER_CALL {
        return Err(TaggingError::invalid(
            "customer_ids",
            format!("at most {MAX_CUSTOMERS_PER_CALL} per call"),
        ));
    }
    let mut out = Vec::new();
    for id in ids.iter().collect::<BTreeSet<_>>() {
        if id.is_empty() {
            return Err(TaggingError::invalid(
                "customer_ids",
                "ids must not be empty",
            ));
        }
        let customer = find_customer(conn, chain, id)
            .await?
            .ok_or_else(|| TaggingError::not_found("customer", id))?;
        out.push((customer.customer_id, customer.number));
    }
    Ok(out)
}

fn manual_tag(tag: &TagRow, need_active: bool) -> Result<()> {
    if tag.source != SOURCE_MANUAL {
        return Err(TaggingError::precondition(
            "tag_id",
            "only manual tags are added and removed by hand",
        ));
    }
    if need_active && tag.lifecycle != LIFECYCLE_ACTIVE {
        return Err(TaggingError::precondition(
            "tag_id",
            "the tag is not active",
        ));
    }
    Ok(())
}

/// Adds (`added`) or removes a manual tag for customers; the count that changed.
async fn change_manual_tag(
    deps: &Arc<Deps>,
    caller: &Caller,
    tag_id: &str,
    customers: Customers<'_>,
    note: &str,
    added: bool,
) -> Result<i64> {
    caller.require_role(TAGGERS)?;
    let chain = caller.chain()?;
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(TaggingError::invalid(
            "note",
            format!("at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    let db = &deps.runtime.db;
    let txn = begin_write(db).await?;
    let tag = tag_in_chain(&txn, chain, tag_id).await?;
    manual_tag(&tag, added)?;
    let customers = match customers {
        Customers::Ids(ids) => {
            let known = known_customers(&txn, chain, ids).await?;
            for (customer_id, _) in &known {
                require_customer_scope(&txn, chain, caller, customer_id).await?;
            }
            known
        }
        Customers::Segment(segment) => {
            let (members, shared) = segment_members(deps, chain, segment).await?;
            // A store-scoped caller tags only the members known at their stores.
            let in_scope = customers_in_scope(&txn, chain, caller).await?;
            let bitmaps = shared
                .read()
                .map_err(|_| TaggingError::invalid("segment", "bitmap cache unavailable"))?;
            members
                .iter()
                .filter_map(|n| bitmaps.customer_id(n).map(|id| (id.to_owned(), n)))
                .filter(|(id, _)| in_scope.as_ref().is_none_or(|scope| scope.contains(id)))
                .collect()
        }
    };
    let reason = if note.is_empty() { "manual" } else { note };
    let changes = customers
        .into_iter()
        .map(|(customer_id, number)| Change {
            tag_id: tag.tag_id.clone(),
            tag_name: tag.name.clone(),
            customer_id,
            number,
            added,
            source: SOURCE_MANUAL,
            rule_version: 0,
            actor: format!("manual:{}", caller.staff_id),
            reason: reason.to_owned(),
        })
        .collect();
    let now_us = Utc::now().timestamp_micros();
    let applied = apply_changes(&txn, &deps.runtime.events, chain, changes, now_us).await?;
    txn.commit().await?;
    deps.runtime.events.committed();
    deps.bitmaps.apply(chain, &applied);
    Ok(applied.len() as i64)
}

/// Whom a manual-tag call is for.
enum Customers<'a> {
    Ids(&'a [String]),
    /// Every member of a segment (BulkTagSegment).
    Segment(Option<SegmentRef>),
}

pub async fn bulk_tag_segment(
    deps: &Arc<Deps>,
    request: Request<BulkTagSegmentRequest>,
) -> Result<Response<BulkTagSegmentResponse>> {
    let caller = Caller::from_request(&request)?;
    let r = request.into_inner();
    let customers = Customers::Segment(r.segment);
    let changed =
        change_manual_tag(deps, &caller, &r.tag_id, customers, &r.note, !r.remove).await?;
    Ok(Response::new(BulkTagSegmentResponse { changed }))
}

pub async fn add_customer_tags(
    deps: &Arc<Deps>,
    request: Request<AddCustomerTagsRequest>,
) -> Result<Response<AddCustomerTagsResponse>> {
    let caller = Caller::from_request(&request)?;
    let r = request.into_inner();
    let added = change_manual_tag(
        deps,
        &caller,
        &r.tag_id,
        Customers::Ids(&r.customer_ids),
        &r.note,
        true,
    )
    .await?;
    Ok(Response::new(AddCustomerTagsResponse { added }))
}

pub async fn remove_customer_tags(
    deps: &Arc<Deps>,
    request: Request<RemoveCustomerTagsRequest>,
) -> Result<Response<RemoveCustomerTagsResponse>> {
    let caller = Caller::from_request(&request)?;
    let r = request.into_inner();
    let removed = change_manual_tag(
        deps,
        &caller,
        &r.tag_id,
        Customers::Ids(&r.customer_ids),
        &r.note,
        false,
    )
    .await?;
    Ok(Response::new(RemoveCustomerTagsResponse { removed }))
}

pub async fn list_customer_tags(
    deps: &Arc<Deps>,
    request: Request<ListCustomerTagsRequest>,
) -> Result<Response<ListCustomerTagsResponse>> {
    let caller = Caller::from_request(&request)?;
    let chain = caller.chain()?;
    let customer_id = &request.get_ref().customer_id;
    if customer_id.is_empty() {
        return Err(TaggingError::invalid("customer_id", "is required"));
    }
    let db = &deps.runtime.db;
    find_customer(db, chain, customer_id)
        .await?
        .ok_or_else(|| TaggingError::not_found("customer", customer_id))?;
    require_customer_scope(db, chain, &caller, customer_id).await?;
    let tags = all_tags(db, chain).await?;
    let memberships = memberships_of(db, chain, customer_id).await?;
    let mut out: Vec<CustomerTag> = memberships
        .iter()
        .map(|m| {
            let tag = tags.iter().find(|t| t.tag_id == m.tag_id);
            CustomerTag {
                tag_id: m.tag_id.clone(),
                name: tag.map(|t| t.name.clone()).unwrap_or_default(),
                source: m.source as i32,
                added_at: timestamp(m.added_at_us),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Response::new(ListCustomerTagsResponse { tags: out }))
}

pub async fn list_tag_members(
    deps: &Arc<Deps>,
    request: Request<ListTagMembersRequest>,
) -> Result<Response<ListTagMembersResponse>> {
    let caller = Caller::from_request(&request)?;
    caller.require_role(AUDIENCE_READERS)?;
    let chain = caller.chain()?;
    let r = request.get_ref();
    let page = PageRequest::parse(r.page_size, &r.page_token, 1000)?;
    let db = &deps.runtime.db;
    let tag = tag_in_chain(db, chain, &r.tag_id).await?;
    // A store-scoped caller lists only the members known at their stores (`scope`).
    let mut ids = if caller.role.is_chain_wide() {
        member_page(db, chain, &tag.tag_id, &page.after, page.size + 1).await?
    } else {
        member_page_at_stores(
            db,
            chain,
            &tag.tag_id,
            &caller.stores,
            &page.after,
            page.size + 1,
        )
        .await?
    };
    let more = ids.len() as u64 > page.size;
    ids.truncate(page.size as usize);
    let next_page_token = match (more, ids.last()) {
        (true, Some(last)) => next_token(last),
        _ => String::new(),
    };
    Ok(Response::new(ListTagMembersResponse {
        customer_ids: ids,
        next_page_token,
    }))
}

pub async fn list_tag_history(
    deps: &Arc<Deps>,
    request: Request<ListTagHistoryRequest>,
) -> Result<Response<ListTagHistoryResponse>> {
    let caller = Caller::from_request(&request)?;
    caller.require_role(TAGGERS)?;
    let chain = caller.chain()?;
    let r = request.get_ref();
    let page = PageRequest::parse(r.page_size, &r.page_token, 500)?;
    let before = if page.after.is_empty() {
        i64::MAX
    } else {
        page.after.parse::<i64>().map_err(|_| {
            TaggingError::invalid("page_token", "not a token from a previous response")
        })?
    };
    let db = &deps.runtime.db;
    if !r.tag_id.is_empty() {
        tag_in_chain(db, chain, &r.tag_id).await?;
    }
    if !r.customer_id.is_empty() {
        require_customer_scope(db, chain, &caller, &r.customer_id).await?;
    }
    let mut rows =
        history_page(db, chain, &r.customer_id, &r.tag_id, before, page.size + 1).await?;
    let more = rows.len() as u64 > page.size;
    rows.truncate(page.size as usize);
    let next_page_token = match (more, rows.last()) {
        (true, Some(last)) => next_token(&last.id.to_string()),
        _ => String::new(),
    };
    Ok(Response::new(ListTagHistoryResponse {
        entries: rows
            .into_iter()
            .map(|h| TagHistoryEntry {
                customer_id: h.customer_id,
                tag_id: h.tag_id,
                added: h.added,
                actor: h.actor,
                reason: h.reason,
                change_time: timestamp(h.changed_at_us),
            })
            .collect(),
        next_page_token,
    }))
}
