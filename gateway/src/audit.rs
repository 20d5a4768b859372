//! `GET /v1/audit`: who changed what in the chain's configuration. Each service keeps the
//! audit trail of its own changes (written in the change's transaction, `kit::audit`) and
//! answers `maitre.events.v1.EventLogService/ListAuditEntries`; this route asks every
//! deployed service with the caller's token and merges the answers newest first. The page
//! token is the last entry's place in one order over all services (time, service, id), so
//! each service is asked only for what lies after it and the merged pages neither repeat nor
//! skip an entry. A service that cannot answer is listed under `unavailable` (its entries are
//! missing from that page; read again later), a disabled one is not asked.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Extension, Json,
    extract::{Query, State},
};
use bytes::Bytes;
use http::HeaderMap;
use maitre_kit::{
    audit::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageToken},
    auth::Caller,
};
use maitre_proto::events::v1::{AuditEntry, ListAuditEntriesRequest, ListAuditEntriesResponse};
use prost::Message;
use serde_json::{Value, json};
use tonic::Status;

use crate::{
    AppState, errors::ApiError, rest::upstream_metadata, transcode::RequestError,
    upstream::SERVICES,
};

const LIST_PATH: &str = "/maitre.events.v1.EventLogService/ListAuditEntries";

/// The query parameters `GET /v1/audit` accepts (proto3 JSON names of the request's fields,
/// plus `service`).
pub const PARAMETERS: [(&str, &str); 9] = [
    ("pageSize", "At most this many entries (1–200; default 50)."),
    ("pageToken", "`nextPageToken` of the previous page."),
    (
        "action",
        "Only this action (e.g. `assignment.policy.update`); a value ending in `.` is a prefix (`notification.`).",
    ),
    (
        "targetType",
        "Only changes to this kind of target (`policy`, `tag`, `automation`, `api_key`, `provider_account`, `customer`, `bulk_transfer`, …).",
    ),
    ("targetId", "Only changes to this target."),
    (
        "actor",
        "Only changes by this actor (a staff id, or `api_key:<id>`).",
    ),
    (
        "service",
        "Only the entries of this service (`profile`, `assignment`, `tagging`, `notification`).",
    ),
    ("since", "Only changes at or after this time (RFC 3339)."),
    ("until", "Only changes before this time (RFC 3339)."),
];

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(RequestError {
        field: field.to_owned(),
        message: message.into(),
    })
}

/// The request with one time filter set from its RFC 3339 text (the proto3 JSON mapping's
/// own parser, so the REST form is the contract's).
fn with_time(
    request: ListAuditEntriesRequest,
    field: &str,
    text: &str,
) -> Result<ListAuditEntriesRequest, ApiError> {
    if text.is_empty() {
        return Ok(request);
    }
    let parsed: ListAuditEntriesRequest = maitre_proto::json::from_json(&json!({ field: text }))
        .map_err(|_| bad(field, format!("`{text}` is not an RFC 3339 time")))?;
    Ok(ListAuditEntriesRequest {
        since: parsed.since.or(request.since),
        until: parsed.until.or(request.until),
        ..request
    })
}

/// An entry as the REST answer shows it: `before` and `after` as JSON values.
fn entry_json(entry: &AuditEntry) -> Result<Value, ApiError> {
    let mut value = maitre_proto::json::to_json(entry)
        .map_err(|e| ApiError::Upstream(Status::internal(e.to_string())))?;
    if let Value::Object(fields) = &mut value {
        fields.remove("beforeJson");
        fields.remove("afterJson");
        let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
        fields.insert("before".into(), parse(&entry.before_json));
        fields.insert("after".into(), parse(&entry.after_json));
    }
    Ok(value)
}

/// `GET /v1/audit` (HQ admins: their chain; internal services: every chain).
pub async fn audit(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    if !caller.role.is_chain_wide() {
        return Err(ApiError::Upstream(Status::permission_denied(
            "the audit trail is for HQ admins and internal services",
        )));
    }
    if let Some(unknown) = query
        .keys()
        .find(|k| !PARAMETERS.iter().any(|(name, _)| name == k))
    {
        return Err(bad(
            unknown,
            format!(
                "unknown parameter; use {}",
                PARAMETERS.map(|(name, _)| name).join(", ")
            ),
        ));
    }
    let text = |name: &str| query.get(name).map(|v| v.trim()).unwrap_or_default();
    let page_size = match text("pageSize") {
        "" => DEFAULT_PAGE_SIZE,
        n => n
            .parse::<i32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| bad("pageSize", format!("must be between 1 and {MAX_PAGE_SIZE}")))?,
    };
    let page_token = text("pageToken");
    if !page_token.is_empty() && PageToken::decode(page_token).is_none() {
        return Err(bad("pageToken", "is not a token this API issued"));
    }
    let only = match text("service") {
        "" => None,
        name => Some(
            SERVICES
                .into_iter()
                .find(|s| s.as_str() == name)
                .ok_or_else(|| {
                    bad(
                        "service",
                        "must be profile, assignment, tagging or notification",
                    )
                })?,
        ),
    };
    let request = ListAuditEntriesRequest {
        page_size,
        page_token: page_token.to_owned(),
        action: text("action").to_owned(),
        target_type: text("targetType").to_owned(),
        target_id: text("targetId").to_owned(),
        actor: text("actor").to_owned(),
        since: None,
        until: None,
    };
    let request = with_time(request, "since", text("since"))?;
    let request = with_time(request, "until", text("until"))?;
    let request = Bytes::from(request.encode_to_vec());
    // A disabled service keeps no trail here; every deployed one is asked.
    let asked = SERVICES
        .into_iter()
        .filter(|s| only.is_none_or(|only| only == *s))
        .filter(|s| state.upstreams.channel(*s).is_some());
    let asks = asked.map(|service| {
        let metadata = upstream_metadata(&caller, &headers);
        let request = request.clone();
        let upstreams = &state.upstreams;
        async move {
            let answer = upstreams
                .unary(service, LIST_PATH, request, metadata)
                .await
                .and_then(|bytes| {
                    ListAuditEntriesResponse::decode(bytes)
                        .map_err(|e| Status::internal(format!("undecodable answer: {e}")))
                });
            (service, answer)
        }
    });
    let mut entries = Vec::new();
    let mut more = false;
    let mut unavailable = Vec::new();
    for (service, answer) in futures::future::join_all(asks).await {
        match answer {
            Ok(answer) => {
                more |= !answer.next_page_token.is_empty();
                entries.extend(answer.entries);
            }
            // A refusal is the caller's answer; only an outage is reported beside the page.
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::PermissionDenied
                        | tonic::Code::InvalidArgument
                        | tonic::Code::Unauthenticated
                ) =>
            {
                return Err(ApiError::Upstream(status));
            }
            Err(status) => unavailable.push(json!({
                "service": service.as_str(),
                "message": status.message(),
            })),
        }
    }
    entries.sort_by(|a, b| {
        let (a, b) = (PageToken::after(a), PageToken::after(b));
        b.key().cmp(&a.key())
    });
    more |= entries.len() > page_size as usize;
    entries.truncate(page_size as usize);
    let next_page_token = match entries.last() {
        Some(last) if more => PageToken::after(last).encode(),
        _ => String::new(),
    };
    let entries = entries
        .iter()
        .map(entry_json)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({
        "entries": entries,
        "nextPageToken": next_page_token,
        "unavailable": unavailable,
    })))
}
