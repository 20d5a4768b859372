//! Live updates for terminals (seed 000: store manager, customer manager and front desk see
//! the same state at once): `GET /v1/stream` merges the four services' `Watch` streams,
//! opened with the caller's own token so each service filters by chain and store, and emits
//! server-sent events.
//!
//! Each SSE `id` is the cursor list `<service>:<sequence>,…`, the event's own service first,
//! then the last sequence seen of every other service. A client resumes with that id in
//! `Last-Event-ID` (EventSource does it by itself) or in `?from=`; services not listed start
//! at the beginning of their log. `?from=now` starts every service not named by
//! `Last-Event-ID` at its log's head (a screen that loads its lists, then wants what changes
//! next), and first sends an `event: ready` whose id holds those cursors, so a reconnect
//! resumes exactly there. Customer managers additionally see only events about their own
//! customers or about no manager.

use std::{collections::BTreeMap, convert::Infallible, sync::Arc, time::Duration};

use axum::{
    Extension,
    extract::{Query, State},
    response::sse::{Event as SseEvent, KeepAlive, Sse},
};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::HeaderMap;
use maitre_kit::{
    auth::{Caller, Role},
    config::ServiceName,
};
use maitre_proto::events::v1::Event;
use prost::Message;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use crate::{
    AppState,
    errors::ApiError,
    rest::upstream_metadata,
    transcode::RequestError,
    upstream::{SERVICES, Upstreams},
};

/// Longest wait between reconnection attempts to a service.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Query of `/v1/stream`.
#[derive(Debug, Default, Deserialize)]
pub struct StreamQuery {
    /// Cursors to resume from, like `Last-Event-ID`, or `now`.
    pub from: Option<String>,
}

/// Last sequence seen per service.
pub type Cursors = BTreeMap<&'static str, u64>;

/// Parses `profile:12,assignment:40` (either header or query form).
pub fn parse_cursors(text: &str, field: &str) -> Result<Cursors, RequestError> {
    let mut cursors = Cursors::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let bad = |why: &str| RequestError {
            field: field.to_owned(),
            message: format!("`{item}`: {why}; expected `<service>:<sequence>,…`"),
        };
        let (name, sequence) = item.split_once(':').ok_or_else(|| bad("no `:`"))?;
        let service = SERVICES
            .iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| bad("unknown service"))?;
        let sequence = sequence.parse::<u64>().map_err(|_| bad("bad sequence"))?;
        cursors.insert(service.as_str(), sequence);
    }
    Ok(cursors)
}

/// The SSE id: this event's `service:sequence` first, then the other cursors.
pub fn event_id(service: &str, cursors: &Cursors) -> String {
    let own = cursors.get(service).copied().unwrap_or_default();
    std::iter::once(format!("{service}:{own}"))
        .chain(
            cursors
                .iter()
                .filter(|(name, _)| **name != service)
                .map(|(name, seq)| format!("{name}:{seq}")),
        )
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `caller` sees `event` beyond what the service already filtered: customer
/// managers only see events about themselves or about no manager.
pub fn visible_to(caller: &Caller, event: &Event) -> bool {
    if caller.role != Role::CustomerManager {
        return true;
    }
    let manager = event
        .scope
        .as_ref()
        .map(|s| s.manager_id.as_str())
        .unwrap_or_default();
    manager.is_empty() || manager == caller.staff_id
}

/// `GET /v1/stream`.
pub async fn stream(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let start_now = query.from.as_deref() == Some("now");
    let mut cursors = match &query.from {
        Some(from) if !start_now => parse_cursors(from, "from")?,
        _ => Cursors::new(),
    };
    if let Some(last) = headers.get("last-event-id") {
        let text = last.to_str().map_err(|_| RequestError {
            field: "Last-Event-ID".into(),
            message: "not text".into(),
        })?;
        cursors.extend(parse_cursors(text, "Last-Event-ID")?);
    }
    let ready = if start_now {
        start_at_heads(&state.upstreams, &caller, &headers, &mut cursors).await;
        Some(
            SseEvent::default()
                .event("ready")
                .id(cursor_list(&cursors))
                .data(serde_json::json!({"cursors": cursors}).to_string()),
        )
    } else {
        None
    };
    let (tx, rx) = mpsc::channel::<(ServiceName, Result<Event, String>)>(256);
    for service in SERVICES {
        let from = cursors.get(service.as_str()).copied().unwrap_or_default();
        let metadata = upstream_metadata(&caller, &headers);
        tokio::spawn(watch_service(
            state.upstreams.clone(),
            service,
            from,
            caller.clone(),
            metadata,
            tx.clone(),
        ));
    }
    let events = ReceiverStream::new(rx).map(move |(service, item)| {
        let sse = match item {
            Ok(event) => {
                cursors.insert(service.as_str(), event.sequence);
                let data = maitre_proto::json::to_json(&event)
                    .map(|json| json.to_string())
                    .unwrap_or_else(|e| serde_json::json!({"error": e.to_string()}).to_string());
                SseEvent::default()
                    .id(event_id(service.as_str(), &cursors))
                    .data(data)
            }
            Err(message) => SseEvent::default().event("error").data(
                serde_json::json!({"service": service.as_str(), "message": message}).to_string(),
            ),
        };
        Ok(sse)
    });
    let events = futures::stream::iter(ready.map(Ok)).chain(events);
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// `service:sequence,…` of every cursor.
fn cursor_list(cursors: &Cursors) -> String {
    cursors
        .iter()
        .map(|(name, seq)| format!("{name}:{seq}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Sets the cursor of every service not already resumed to the head of its log (of the
/// caller's chain). A service that cannot say (down, disabled) starts at the beginning, as
/// without `now`: late history beats a gap.
async fn start_at_heads(
    upstreams: &Upstreams,
    caller: &Caller,
    headers: &HeaderMap,
    cursors: &mut Cursors,
) {
    use maitre_proto::events::v1::{GetLogHeadRequest, GetLogHeadResponse};
    let asks = SERVICES
        .into_iter()
        .filter(|service| !cursors.contains_key(service.as_str()))
        .map(|service| {
            let request = Bytes::from(GetLogHeadRequest::default().encode_to_vec());
            let metadata = upstream_metadata(caller, headers);
            async move {
                let head = upstreams
                    .unary(service, LOG_HEAD_PATH, request, metadata)
                    .await
                    .ok()
                    .and_then(|bytes| GetLogHeadResponse::decode(bytes).ok());
                (service, head)
            }
        });
    for (service, head) in futures::future::join_all(asks).await {
        match head {
            Some(head) => {
                cursors.insert(service.as_str(), head.head_sequence);
            }
            None => tracing::debug!(
                service = service.as_str(),
                "no log head; streaming from the start"
            ),
        }
    }
}

/// Follows one service's `Watch` from `from`, reconnecting with backoff from the last
/// sequence seen, until the client goes away or the service refuses the caller.
async fn watch_service(
    upstreams: Upstreams,
    service: ServiceName,
    from: u64,
    caller: Caller,
    metadata: tonic::metadata::MetadataMap,
    tx: mpsc::Sender<(ServiceName, Result<Event, String>)>,
) {
    let mut cursor = from;
    let mut backoff = Duration::from_millis(250);
    loop {
        let request = watch_request(cursor);
        let refusal = match upstreams
            .server_streaming(service, WATCH_PATH, request, metadata.clone())
            .await
        {
            Ok(mut stream) => loop {
                let item = tokio::select! {
                    _ = tx.closed() => return,
                    item = stream.message() => item,
                };
                match item {
                    Ok(Some(bytes)) => {
                        backoff = Duration::from_millis(250);
                        let Ok(event) = Event::decode(bytes) else {
                            break None;
                        };
                        cursor = event.sequence;
                        if visible_to(&caller, &event)
                            && tx.send((service, Ok(event))).await.is_err()
                        {
                            return;
                        }
                    }
                    Ok(None) => break None,
                    Err(status) => break Some(status),
                }
            },
            Err(status) => Some(status),
        };
        // The caller may not watch this service: say so once, and stop retrying.
        if let Some(status) = refusal
            && matches!(
                status.code(),
                Code::Unauthenticated
                    | Code::PermissionDenied
                    | Code::InvalidArgument
                    | Code::Unimplemented
            )
        {
            let _ = tx.send((service, Err(status.message().to_owned()))).await;
            return;
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Every service serves its log through the one shared event-log service.
const WATCH_PATH: &str = "/maitre.events.v1.EventLogService/Watch";
const LOG_HEAD_PATH: &str = "/maitre.events.v1.EventLogService/GetLogHead";

fn watch_request(from_sequence: u64) -> Bytes {
    Bytes::from(maitre_proto::events::v1::WatchRequest { from_sequence }.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use maitre_proto::events::v1::EventScope;

    fn caller(role: Role, staff: &str) -> Caller {
        Caller {
            chain_id: "c1".into(),
            staff_id: staff.into(),
            role,
            stores: vec![],
            token: String::new(),
        }
    }

    #[test]
    fn cursors_parse_and_round_trip_through_ids() {
        let cursors = parse_cursors("profile:12, assignment:40", "from").unwrap();
        assert_eq!(cursors.get("profile"), Some(&12));
        let id = event_id("assignment", &cursors);
        assert_eq!(id, "assignment:40,profile:12");
        assert_eq!(parse_cursors(&id, "Last-Event-ID").unwrap(), cursors);
        assert!(parse_cursors("gateway:1", "from").is_err());
        assert!(parse_cursors("profile:x", "from").is_err());
        assert_eq!(parse_cursors("profile", "from").unwrap_err().field, "from");
        assert!(parse_cursors("", "from").unwrap().is_empty());
    }

    #[test]
    fn customer_managers_see_their_own_and_unscoped_events() {
        let event = |manager: &str| Event {
            scope: Some(EventScope {
                manager_id: manager.into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let wang = caller(Role::CustomerManager, "wang");
        assert!(visible_to(&wang, &event("wang")));
        assert!(visible_to(&wang, &event("")));
        assert!(!visible_to(&wang, &event("zhang")));
        assert!(visible_to(
            &caller(Role::StoreManager, "li"),
            &event("zhang")
        ));
    }

    #[test]
    fn the_shared_watch_is_in_the_contract() {
        let pool = maitre_proto::descriptor_pool();
        let (service, method) = WATCH_PATH[1..].split_once('/').unwrap();
        let method = pool
            .get_service_by_name(service)
            .and_then(|s| s.methods().find(|m| m.name() == method))
            .expect("EventLogService.Watch");
        assert!(method.is_server_streaming());
        assert_eq!(method.input().full_name(), "maitre.events.v1.WatchRequest");
        assert!(!watch_request(7).is_empty());
    }
}
