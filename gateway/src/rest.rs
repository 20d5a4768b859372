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
    let answer = if route.method.is_server_streaming() {
        stream_ndjson(&state, &caller, route, &bindings, &uri, &headers, &body).await
    } else {
        call(&state, &caller, route, &bindings, &uri, &headers, &body)
            .await
            .map(|json| Json(json).into_response())
    };
    let mut response = answer.unwrap_or_else(IntoResponse::into_response);
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
    body: &Bytes,
) -> Result<serde_json::Value, ApiError> {
    let message = encoded_request(route, body, uri.query(), bindings).await?;
    let response = state
        .upstreams
        .unary(
            route.upstream,
            &route.grpc_path,
            message,
            upstream_metadata(caller, headers),
        )
        .await
        .map_err(ApiError::Upstream)?;
    transcode::response_json(route, &response).map_err(ApiError::BadResponse)
}

/// Bodies from this size on are transcoded on the blocking pool: parsing hundreds of
/// kilobytes of JSON takes milliseconds, which on a worker thread would hold up every other
/// tenant's calls queued behind it (issue 21, noisy neighbour).
pub const OFF_WORKER_BODY_BYTES: usize = 64 * 1024;

/// The encoded request message of `route` (`transcode::request_message`), built off the
/// async workers when the body is large.
async fn encoded_request(
    route: &Route,
    body: &Bytes,
    query: Option<&str>,
    bindings: &[Binding],
) -> Result<Bytes, ApiError> {
    if body.len() < OFF_WORKER_BODY_BYTES {
        let message = transcode::request_message(route, body, query, bindings)?;
        return Ok(Bytes::from(message.encode_to_vec()));
    }
    let (route, body, bindings) = (route.clone(), body.clone(), bindings.to_vec());
    let query = query.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        transcode::request_message(&route, &body, query.as_deref(), &bindings)
            .map(|message| Bytes::from(message.encode_to_vec()))
    })
    .await
    .map_err(|e| ApiError::Upstream(tonic::Status::internal(format!("transcoding: {e}"))))?
    .map_err(ApiError::from)
}

/// A server stream as newline-delimited JSON, one response message per line. The first
/// message is awaited before answering, so a refusal (permission, not found, bad input) is an
/// ordinary JSON error with its status; a failure after that ends the body with one line
/// `{"error": {code, message, field}}`, the error body every REST client knows.
async fn stream_ndjson(
    state: &AppState,
    caller: &Caller,
    route: &Route,
    bindings: &[Binding],
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let message = encoded_request(route, body, uri.query(), bindings).await?;
    let mut stream = state
        .upstreams
        .server_streaming(
            route.upstream,
            &route.grpc_path,
            message,
            upstream_metadata(caller, headers),
        )
        .await
        .map_err(ApiError::Upstream)?;
    let first = stream.message().await.map_err(ApiError::Upstream)?;
    let route = route.clone();
    let line = move |bytes: &[u8]| -> Bytes {
        let json = transcode::response_json(&route, bytes)
            .unwrap_or_else(|e| serde_json::json!({"error": {"code": "INTERNAL", "message": e}}));
        let mut text = json.to_string();
        text.push('\n');
        Bytes::from(text)
    };
    let lines = async_stream_lines(first, stream, line);
    let mut response = axum::body::Body::from_stream(lines).into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}

/// The lines of a stream whose first message was already read.
fn async_stream_lines(
    first: Option<Bytes>,
    stream: tonic::Streaming<Bytes>,
    line: impl Fn(&[u8]) -> Bytes + Send + 'static,
) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    use futures::StreamExt;
    let head = futures::stream::iter(first.map(|bytes| Ok(line(&bytes))));
    let tail = futures::stream::unfold(Some((stream, line)), |state| async move {
        let (mut stream, line) = state?;
        match stream.message().await {
            Ok(Some(bytes)) => Some((Ok(line(&bytes)), Some((stream, line)))),
            Ok(None) => None,
            Err(status) => {
                let error = ApiError::Upstream(status).body();
                let mut text = serde_json::json!({ "error": error }).to_string();
                text.push('\n');
                Some((Ok(Bytes::from(text)), None))
            }
        }
    });
    head.chain(tail)
}

/// Metadata of an upstream call made for `caller`: the same bearer token (the service
/// verifies it again), the bounded forwarded headers (`forward`), and the current trace
/// context when a trace exporter gives the gateway a span of its own.
pub fn upstream_metadata(caller: &Caller, incoming: &HeaderMap) -> MetadataMap {
    let mut headers = forward::forwarded_headers(caller, incoming);
    maitre_kit::telemetry::inject_context(&mut headers);
    MetadataMap::from_headers(headers)
}
