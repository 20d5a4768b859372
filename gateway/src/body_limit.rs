//! Request body limits and JSON error bodies at the edge.
//!
//! Bodies are bounded per route: the bulk import (`/v1/events:batch`, gRPC
//! `RecordEventsBatch`) documents 10,000 events, which does not fit the general limit, so it
//! has its own (`MAITRE_MAX_IMPORT_BODY_BYTES`); every other request keeps
//! `MAITRE_MAX_BODY_BYTES`. A body over its limit is answered 413 with the JSON error body,
//! naming the limit, before anything is read or forwarded.
//!
//! `json_errors` is the last word on REST answers: an error that a layer or extractor below
//! produced in plain text or empty (axum's body rejections, the timeout's 504) is given the
//! JSON error body every REST client expects. gRPC answers are left alone.

use axum::{
    Json,
    body::Body,
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{StatusCode, header};
use http_body_util::{BodyExt, Limited};

use crate::errors::ErrorBody;

/// The REST path and gRPC method of the bulk import.
pub const IMPORT_PATHS: [&str; 2] = [
    "/v1/events:batch",
    "/maitre.profile.v1.ProfileService/RecordEventsBatch",
];

/// The body limits in force.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Every request but the bulk import.
    pub default_bytes: usize,
    /// The bulk import.
    pub import_bytes: usize,
}

impl BodyLimits {
    /// The limit of a request to `path`.
    pub fn for_path(&self, path: &str) -> usize {
        if IMPORT_PATHS.contains(&path) {
            self.import_bytes
        } else {
            self.default_bytes
        }
    }
}

fn too_large(limit: usize) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        Json(ErrorBody {
            code: "INVALID_ARGUMENT",
            message: format!("the request body is larger than this route's limit of {limit} bytes"),
            field: Some("body".into()),
        }),
    )
        .into_response()
}

/// Refuses a declared length over the route's limit at once; bounds a body of unknown length
/// while it is read (the reader's length error becomes the same JSON 413 in `json_errors`).
pub async fn limit(State(limits): State<BodyLimits>, request: Request, next: Next) -> Response {
    match bound_body(limits, request) {
        Ok(request) => next.run(request).await,
        Err(refusal) => *refusal,
    }
}

/// [`limit`] without the middleware around it (the edge's deadline layer runs both).
pub fn bound_body(limits: BodyLimits, request: Request) -> Result<Request, Box<Response>> {
    let limit = limits.for_path(request.uri().path());
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Box::new(too_large(limit)));
    }
    let (parts, body) = request.into_parts();
    let body = Body::new(Limited::new(body, limit).map_err(axum::Error::new));
    Ok(Request::from_parts(parts, body))
}

fn is_grpc(content_type: Option<&http::HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

fn is_json(content_type: Option<&http::HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The gRPC code name an HTTP error status stands for (the inverse of `errors::http_status`).
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST
        | StatusCode::PAYLOAD_TOO_LARGE
        | StatusCode::UNSUPPORTED_MEDIA_TYPE
        | StatusCode::UNPROCESSABLE_ENTITY
        | StatusCode::LENGTH_REQUIRED => "INVALID_ARGUMENT",
        StatusCode::UNAUTHORIZED => "UNAUTHENTICATED",
        StatusCode::FORBIDDEN => "PERMISSION_DENIED",
        StatusCode::NOT_FOUND => "NOT_FOUND",
        StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED => "UNIMPLEMENTED",
        StatusCode::CONFLICT => "ABORTED",
        StatusCode::TOO_MANY_REQUESTS => "RESOURCE_EXHAUSTED",
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::BAD_GATEWAY => "UNAVAILABLE",
        StatusCode::GATEWAY_TIMEOUT | StatusCode::REQUEST_TIMEOUT => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

/// Longest plain-text error kept as the JSON message.
const MAX_MESSAGE_BYTES: usize = 1024;

/// Gives a non-JSON REST error answer the JSON error body (see the module doc).
pub async fn json_errors(
    State(limits): State<BodyLimits>,
    mut request: Request,
    next: Next,
) -> Response {
    // The header bound first, here rather than as a layer of its own (one boxed layer fewer
    // per request); its refusals are already JSON or gRPC.
    if let Some(refusal) = crate::forward::bound(&mut request) {
        return refusal;
    }
    let limit = limits.for_path(request.uri().path());
    let grpc_request = is_grpc(request.headers().get(header::CONTENT_TYPE));
    let response = next.run(request).await;
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE);
    if grpc_request
        || !(status.is_client_error() || status.is_server_error())
        || is_json(content_type)
        || is_grpc(content_type)
    {
        return response;
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(limit);
    }
    let (parts, body) = response.into_parts();
    let text = match Limited::new(body, MAX_MESSAGE_BYTES).collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes())
            .trim()
            .to_owned(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let mut json = (
        status,
        Json(ErrorBody {
            code: code_for(status),
            message,
            field: None,
        }),
    )
        .into_response();
    // Keep what the layer said besides the body (Retry-After, Allow, WWW-Authenticate).
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            json.headers_mut().insert(name.clone(), value.clone());
        }
    }
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bulk_import_has_its_own_limit_over_rest_and_grpc() {
        let limits = BodyLimits {
            default_bytes: 10,
            import_bytes: 1000,
        };
        assert_eq!(limits.for_path("/v1/events:batch"), 1000);
        assert_eq!(
            limits.for_path("/maitre.profile.v1.ProfileService/RecordEventsBatch"),
            1000
        );
        assert_eq!(limits.for_path("/v1/events"), 10);
        assert_eq!(limits.for_path("/v1/stores"), 10);
    }

    #[test]
    fn error_statuses_map_to_code_names() {
        assert_eq!(code_for(StatusCode::PAYLOAD_TOO_LARGE), "INVALID_ARGUMENT");
        assert_eq!(code_for(StatusCode::GATEWAY_TIMEOUT), "DEADLINE_EXCEEDED");
        assert_eq!(code_for(StatusCode::INTERNAL_SERVER_ERROR), "INTERNAL");
    }
}
