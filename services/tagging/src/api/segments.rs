//! Segment RPCs: CreateSegment, GetSegment, ListSegments, DeleteSegment, CountSegment,
//! ListSegmentMembers, ExportSegment — answered from the replica's membership bitmaps,
//! with class and attribute leaves read from the facts tables.

use std::{collections::HashMap, sync::Arc};

use chrono::Utc;
use maitre_kit::{
    auth::Caller,
    idempotency::{recall, remember},
    page::{PageRequest, next_token},
};
use maitre_proto::tagging::v1::{segment_ref::Ref, *};
use roaring::RoaringBitmap;
use tonic::{Request, Response, codegen::BoxStream};

use super::convert::{AUDIENCE_READERS, TAGGERS, segment_message};
use super::scope::customers_in_scope;
use crate::{
    domain::{
        rule::Location,
        segment::{Leaf, SegmentExpr, parse_segment},
    },
    error::{Result, TaggingError},
    state::Deps,
    storage::{
        begin_write,
        bitmaps::SharedChain,
        catalog::{LIFECYCLE_RETIRED, TagRow, all_tags},
        roster::{numbers_with_attribute, numbers_with_class},
        segments::{SegmentRow, delete_segment, get_segment, insert_segment, list_segments},
        watched::{delete_members_of_segment, insert_member},
    },
};

const MAX_NAME_CHARS: usize = 200;
const MAX_EXPRESSION_CHARS: usize = 4096;
const EXPORT_CHUNK: usize = 1000;

/// Parses `expression` and checks its tags: unknown and retired tags are refused with
/// their position. Returns the expression and tag name → tag id.
fn check_expression(
    tags: &[TagRow],
    expression: &str,
    field: &str,
) -> Result<(SegmentExpr, HashMap<String, String>)> {
    if expression.chars().count() > MAX_EXPRESSION_CHARS {
        return Err(TaggingError::invalid(
            field,
            format!("at most {MAX_EXPRESSION_CHARS} characters"),
        ));
    }
    let expr =
        parse_segment(expression).map_err(|e| TaggingError::invalid(field, e.to_string()))?;
    let mut ids = HashMap::new();
    for (name, span) in expr.tag_references() {
        let at = Location::of(expression, span);
        match tags.iter().find(|t| t.name == name) {
            None => {
                return Err(TaggingError::invalid(
                    field,
                    format!("unknown tag \"{name}\" at {at}"),
                ));
            }
            Some(t) if t.lifecycle == LIFECYCLE_RETIRED => {
                return Err(TaggingError::invalid(
                    field,
                    format!("tag \"{name}\" is retired at {at}"),
                ));
            }
            Some(t) => {
                ids.insert(name.to_owned(), t.tag_id.clone());
            }
        }
    }
    Ok((expr, ids))
}

/// The expression a reference names, and the field to blame.
async fn expression_of(
    deps: &Deps,
    chain: &str,
    segment: Option<SegmentRef>,
) -> Result<(String, &'static str)> {
    match segment.and_then(|s| s.r#ref) {
        Some(Ref::Expression(e)) => Ok((e, "segment.expression")),
        Some(Ref::SegmentId(id)) => {
            let row = get_segment(&deps.runtime.db, chain, &id)
                .await?
                .ok_or_else(|| TaggingError::not_found("segment", &id))?;
            Ok((row.expression, "segment.segment_id"))
        }
        None => Err(TaggingError::invalid(
            "segment",
            "name a segment_id or an expression",
        )),
    }
}

/// The members (customer numbers) of a segment, with the chain's bitmaps to name them.
pub(crate) async fn segment_members(
    deps: &Deps,
    chain: &str,
    segment: Option<SegmentRef>,
) -> Result<(RoaringBitmap, SharedChain)> {
    let (expression, field) = expression_of(deps, chain, segment).await?;
    let db = &deps.runtime.db;
    let tags = all_tags(db, chain).await?;
    let (expr, tag_ids) = check_expression(&tags, &expression, field)?;
    let mut fetched: HashMap<Leaf, RoaringBitmap> = HashMap::new();
    for leaf in expr.leaves() {
        let numbers = match leaf {
            Leaf::Tag { .. } => continue,
            Leaf::Class { value, equal } => numbers_with_class(db, chain, value, *equal).await?,
            Leaf::Attr { name, value, equal } => {
                numbers_with_attribute(db, chain, name, value, *equal).await?
            }
        };
        fetched.insert(leaf.clone(), numbers.into_iter().collect());
    }
    let shared = deps.bitmaps.fresh(db, chain).await?;
    let members = {
        let bitmaps = shared
            .read()
            .map_err(|_| TaggingError::invalid("segment", "bitmap cache unavailable"))?;
        expr.evaluate(&bitmaps.universe, &|leaf| match leaf {
            Leaf::Tag { name } => tag_ids
                .get(name)
                .and_then(|id| bitmaps.tags.get(id))
                .cloned()
                .unwrap_or_default(),
            other => fetched.get(other).cloned().unwrap_or_default(),
        })
    };
    Ok((members, shared))
}

/// The members of a segment the caller may see: a store-scoped caller (store manager,
/// customer manager, front desk) only the members known at their stores, as every
/// customer-level call here (`scope`); chain-wide callers all of them. Counts, lists, exports
/// and group figures all read members through this.
pub(crate) async fn segment_members_for(
    deps: &Deps,
    chain: &str,
    caller: &Caller,
    segment: Option<SegmentRef>,
) -> Result<(RoaringBitmap, SharedChain)> {
    let (members, shared) = segment_members(deps, chain, segment).await?;
    let Some(in_scope) = customers_in_scope(&deps.runtime.db, chain, caller).await? else {
        return Ok((members, shared));
    };
    let visible: RoaringBitmap = {
        let bitmaps = shared
            .read()
            .map_err(|_| TaggingError::invalid("segment", "bitmap cache unavailable"))?;
        in_scope
            .iter()
            .filter_map(|id| bitmaps.number(id))
            .collect()
    };
    Ok((members & visible, shared))
}

fn ids_of(shared: &SharedChain, numbers: impl Iterator<Item = u32>) -> Vec<String> {
    match shared.read() {
        Ok(bitmaps) => numbers
            .filter_map(|n| bitmaps.customer_id(n).map(str::to_owned))
            .collect(),
        Err(_) => Vec::new(),
    }
}

pub async fn create_segment(
    deps: &Arc<Deps>,
    request: Request<CreateSegmentRequest>,
) -> Result<Response<CreateSegmentResponse>> {
    let caller = Caller::from_request(&request)?;
    caller.require_role(TAGGERS)?;
    let chain = caller.chain()?.to_owned();
    let CreateSegmentRequest {
        segment,
        request_id,
    } = request.into_inner();
    let db = &deps.runtime.db;
    if let Some(done) =
        recall::<CreateSegmentResponse>(db, &chain, "create_segment", &request_id).await?
    {
        return Ok(Response::new(done));
    }
    let segment = segment.ok_or_else(|| TaggingError::invalid("segment", "is required"))?;
    if segment.name.trim().is_empty() || segment.name.chars().count() > MAX_NAME_CHARS {
        return Err(TaggingError::invalid(
            "segment.name",
            format!("1..={MAX_NAME_CHARS} characters"),
        ));
    }
    if segment.description.chars().count() > MAX_EXPRESSION_CHARS {
        return Err(TaggingError::invalid("segment.description", "too long"));
    }
    let tags = all_tags(db, &chain).await?;
    check_expression(&tags, &segment.expression, "segment.expression")?;
    let row = SegmentRow {
        segment_id: uuid::Uuid::now_v7().to_string(),
        name: segment.name,
        expression: segment.expression,
        description: segment.description,
        watched: segment.watched,
        created_at_us: Utc::now().timestamp_micros(),
    };
    let response = CreateSegmentResponse {
        segment: Some(segment_message(&row)),
    };
    // A watched segment starts from its present members: only later moves are events.
    let present = if row.watched {
        let adhoc = SegmentRef {
            r#ref: Some(Ref::Expression(row.expression.clone())),
        };
        let (members, shared) = segment_members(deps, &chain, Some(adhoc)).await?;
        ids_of(&shared, members.iter())
    } else {
        Vec::new()
    };
    let txn = begin_write(db).await?;
    insert_segment(&txn, &chain, &row).await?;
    for customer_id in &present {
        insert_member(
            &txn,
            &chain,
            &row.segment_id,
            customer_id,
            row.created_at_us,
        )
        .await?;
    }
    remember(&txn, &chain, "create_segment", &request_id, &response).await?;
    txn.commit().await?;
    Ok(Response::new(response))
}

pub async fn get_segment_rpc(
    deps: &Arc<Deps>,
    request: Request<GetSegmentRequest>,
) -> Result<Response<GetSegmentResponse>> {
    let caller = Caller::from_request(&request)?;
    let chain = caller.chain()?;
    let id = &request.get_ref().segment_id;
    let row = get_segment(&deps.runtime.db, chain, id)
        .await?
        .ok_or_else(|| TaggingError::not_found("segment", id))?;
    Ok(Response::new(GetSegmentResponse {
        segment: Some(segment_message(&row)),
    }))
}

pub async fn list_segments_rpc(
    deps: &Arc<Deps>,
    request: Request<ListSegmentsRequest>,
) -> Result<Response<ListSegmentsResponse>> {
    let caller = Caller::from_request(&request)?;
    let chain = caller.chain()?;
    let r = request.get_ref();
    let page = PageRequest::parse(r.page_size, &r.page_token, 500)?;
    let mut rows = list_segments(&deps.runtime.db, chain, &page.after, page.size + 1).await?;
    let more = rows.len() as u64 > page.size;
    rows.truncate(page.size as usize);
    let next_page_token = match (more, rows.last()) {
        (true, Some(last)) => next_token(&last.segment_id),
        _ => String::new(),
    };
    Ok(Response::new(ListSegmentsResponse {
        segments: rows.iter().map(segment_message).collect(),
        next_page_token,
    }))
}

pub async fn delete_segment_rpc(
    deps: &Arc<Deps>,
    request: Request<DeleteSegmentRequest>,
) -> Result<Response<DeleteSegmentResponse>> {
    let caller = Caller::from_request(&request)?;
    caller.require_role(TAGGERS)?;
    let chain = caller.chain()?;
    let id = &request.get_ref().segment_id;
    let txn = begin_write(&deps.runtime.db).await?;
    if !delete_segment(&txn, chain, id).await? {
        return Err(TaggingError::not_found("segment", id));
    }
    delete_members_of_segment(&txn, chain, id).await?;
    txn.commit().await?;
    Ok(Response::new(DeleteSegmentResponse {}))
}

pub async fn count_segment(
    deps: &Arc<Deps>,
    request: Request<CountSegmentRequest>,
) -> Result<Response<CountSegmentResponse>> {
    let caller = Caller::from_request(&request)?;
    let chain = caller.chain()?.to_owned();
    let (members, _) =
        segment_members_for(deps, &chain, &caller, request.into_inner().segment).await?;
    Ok(Response::new(CountSegmentResponse {
        count: members.len() as i64,
    }))
}

pub async fn list_segment_members(
    deps: &Arc<Deps>,
    request: Request<ListSegmentMembersRequest>,
) -> Result<Response<ListSegmentMembersResponse>> {
    let caller = Caller::from_request(&request)?;
    caller.require_role(AUDIENCE_READERS)?;
    let chain = caller.chain()?.to_owned();
    let r = request.into_inner();
    let page = PageRequest::parse(r.page_size, &r.page_token, 1000)?;
    let after: Option<u32> = if page.after.is_empty() {
        None
    } else {
        Some(page.after.parse().map_err(|_| {
            TaggingError::invalid("page_token", "not a token from a previous response")
        })?)
    };
    let (members, shared) = segment_members_for(deps, &chain, &caller, r.segment).await?;
    let total = members.len() as i64;
    let mut rest = members;
    if let Some(after) = after {
        rest.remove_range(..=after);
    }
    let numbers: Vec<u32> = rest.iter().take(page.size as usize + 1).collect();
    let more = numbers.len() as u64 > page.size;
    let shown = &numbers[..numbers.len().min(page.size as usize)];
    let next_page_token = match (more, shown.last()) {
        (true, Some(last)) => next_token(&last.to_string()),
        _ => String::new(),
    };
    Ok(Response::new(ListSegmentMembersResponse {
        customer_ids: ids_of(&shared, shown.iter().copied()),
        next_page_token,
        total,
    }))
}

pub async fn export_segment(
    deps: &Arc<Deps>,
    request: Request<ExportSegmentRequest>,
) -> Result<Response<BoxStream<ExportSegmentResponse>>> {
    let caller = Caller::from_request(&request)?;
    caller.require_role(AUDIENCE_READERS)?;
    let chain = caller.chain()?.to_owned();
    let (members, shared) =
        segment_members_for(deps, &chain, &caller, request.into_inner().segment).await?;
    let ids = ids_of(&shared, members.iter());
    let chunks: Vec<std::result::Result<ExportSegmentResponse, tonic::Status>> = ids
        .chunks(EXPORT_CHUNK)
        .map(|chunk| {
            Ok(ExportSegmentResponse {
                customer_ids: chunk.to_vec(),
            })
        })
        .collect();
    Ok(Response::new(Box::pin(futures::stream::iter(chunks))))
}
