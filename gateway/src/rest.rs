//! The one generic REST handler: route lookup, request message from JSON, one unary gRPC
//! call with the caller's token, response message to JSON. No per-RPC code.

use std::sync::Arc;

use axum::{
    Extension, Json,
    extract::State,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use maitre_kit::auth::Caller;
use prost::Message;
use tonic::metadata::MetadataMap;

use crate::{
    AppState,
    access::RouteLabel,
    edge::is_grpc,
    errors::{ApiError, grpc_refusal},
    forward,
    routes::{Route, RouteMatch, template::Binding},
    transcode,
};

/// Serves any annotated RPC over REST/JSON.
pub async fn handle(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if is_grpc(&headers) {
        // A gRPC call to a service the gateway does not front.
        return grpc_refusal(&ApiError::NoRoute {
            method,
            path: uri.path().to_owned(),
        });
    }
    let (route, bindings) = match state.routes.find(&method, uri.path()) {
        RouteMatch::Found(route, bindings) => (route, bindings),
        RouteMatch::MethodNotAllowed(allowed) => {
            return ApiError::MethodNotAllowed { allowed }.into_response();
        }
        RouteMatch::NotFound => {
            return ApiError::NoRoute {
                method,
                path: uri.path().to_owned(),
            }
            .into_response();
        }
    };
    let mut response = match call(&state, &caller, route, &bindings, &uri, &headers, &body).await {
        Ok(json) => Json(json).into_response(),
        Err(error) => error.into_response(),
    };
    // The access log and metrics name the template, never the ids in the path.
    response
        .extensions_mut()
        .insert(RouteLabel(Arc::from(route.template.source.as_str())));
    response
}

async fn call(
    state: &AppState,
    caller: &Caller,
    route: &Route,
    bindings: &[Binding],
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Value, ApiError> {
    let message = transcode::request_message(route, body, uri.query(), bindings)?;
    let response = state
        .upstreams
        .unary(
            route.upstream,
            &route.grpc_path,
            Bytes::from(message.encode_to_vec()),
            upstream_metadata(caller, headers),
        )
        .await
        .map_err(ApiError::Upstream)?;
    transcode::response_json(route, &response).map_err(ApiError::BadResponse)
}

/// Metadata of an upstream call made for `caller`: the same bearer token (the service
/// verifies it again), the bounded forwarded headers (`forward`), and the current trace
/// context when a trace exporter gives the gateway a span of its own.
pub fn upstream_metadata(caller: &Caller, incoming: &HeaderMap) -> MetadataMap {
    let mut headers = forward::forwarded_headers(caller, incoming);
    maitre_kit::telemetry::inject_context(&mut headers);
    MetadataMap::from_headers(headers)
}
