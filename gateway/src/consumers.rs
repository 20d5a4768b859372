//! `GET /v1/consumers`: how far each service's consumers of the other services' logs have
//! come (cursor, upstream head, pending events, age of the oldest one). Every service answers
//! `maitre.events.v1.EventLogService/GetConsumerStatus` for its own consumers; this route
//! asks all of them with the caller's token and merges the answers. A service that cannot
//! answer is listed under `unavailable`: lag is reported, never turned into an outage.

use std::sync::Arc;

use axum::{Extension, Json, extract::State};
use bytes::Bytes;
use http::HeaderMap;
use maitre_kit::auth::Caller;
use maitre_proto::events::v1::{GetConsumerStatusRequest, GetConsumerStatusResponse};
use prost::Message;
use serde_json::{Value, json};
use tonic::Status;

use crate::{AppState, errors::ApiError, rest::upstream_metadata, upstream::SERVICES};

const STATUS_PATH: &str = "/maitre.events.v1.EventLogService/GetConsumerStatus";

/// `GET /v1/consumers` (HQ admins: their chain's events; internal services: every chain).
pub async fn consumers(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    if !caller.role.is_chain_wide() {
        return Err(ApiError::Upstream(Status::permission_denied(
            "consumer lag is for HQ admins and internal services",
        )));
    }
    let request = Bytes::from(GetConsumerStatusRequest {}.encode_to_vec());
    let asks = SERVICES.map(|service| {
        let metadata = upstream_metadata(&caller, &headers);
        let request = request.clone();
        let upstreams = &state.upstreams;
        async move {
            let answer = upstreams
                .unary(service, STATUS_PATH, request, metadata)
                .await
                .and_then(|bytes| {
                    GetConsumerStatusResponse::decode(bytes)
                        .map_err(|e| Status::internal(format!("undecodable answer: {e}")))
                });
            (service, answer)
        }
    });
    let mut consumers = Vec::new();
    let mut unavailable = Vec::new();
    for (service, answer) in futures::future::join_all(asks).await {
        match answer {
            Ok(answer) => {
                for status in answer.consumers {
                    consumers.push(
                        maitre_proto::json::to_json(&status)
                            .map_err(|e| ApiError::Upstream(Status::internal(e.to_string())))?,
                    );
                }
            }
            Err(status) => unavailable.push(json!({
                "service": service.as_str(),
                "message": status.message(),
            })),
        }
    }
    let caught_up = unavailable.is_empty()
        && consumers
            .iter()
            .all(|c| c.get("caughtUp").and_then(Value::as_bool) == Some(true));
    Ok(Json(json!({
        "consumers": consumers,
        "unavailable": unavailable,
        "caughtUp": caught_up,
    })))
}
