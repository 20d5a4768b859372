//! `/v1/callbacks/{provider}/{chain_id}/{event}`: the public endpoints the providers call back
//! (Tencent Cloud SMS status and reply callbacks, Alibaba Cloud SMS SmsReport / SmsUp batch push,
//! the WeChat Official Account server push). No staff token: the gateway forwards the request as
//! it came (method, raw query, raw body) to notification's internal
//! `ProviderCallbacks/ReceiveProviderCallback`, which verifies it against the chain's provider
//! account (the provider's signature, or the account's `callback_token` where the provider
//! documents no signature) and answers the body the provider expects. A refused callback is the
//! usual JSON error (401 for a bad signature or token).
//!
//! Neither the query (it carries the token) nor the body (phones, replies) is logged.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use maitre_kit::config::ServiceName;
use maitre_proto::notification::v1::{
    ReceiveProviderCallbackRequest, ReceiveProviderCallbackResponse,
};
use prost::Message;
use tonic::{Status, metadata::MetadataMap};

use crate::{AppState, errors::ApiError};

/// The route, as the providers' consoles are given it.
pub const ROUTE: &str = "/v1/callbacks/{provider}/{chain_id}/{event}";

const RECEIVE_PATH: &str = "/maitre.notification.v1.ProviderCallbacks/ReceiveProviderCallback";

/// Forwards one provider callback to notification and answers what it says.
pub async fn receive(
    State(state): State<Arc<AppState>>,
    Path((provider, chain_id, event)): Path<(String, String, String)>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let request = ReceiveProviderCallbackRequest {
        chain_id,
        provider,
        event,
        method: method.as_str().to_owned(),
        query: query.unwrap_or_default(),
        body: body.to_vec(),
    };
    let answer = state
        .upstreams
        .unary(
            ServiceName::Notification,
            RECEIVE_PATH,
            Bytes::from(request.encode_to_vec()),
            MetadataMap::new(),
        )
        .await;
    match answer.and_then(|bytes| {
        ReceiveProviderCallbackResponse::decode(bytes)
            .map_err(|e| Status::internal(format!("undecodable callback answer: {e}")))
    }) {
        Ok(answer) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, answer.content_type)],
            answer.body,
        )
            .into_response(),
        Err(status) => ApiError::Upstream(status).into_response(),
    }
}
