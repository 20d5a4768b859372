//! The one mapping from failures to HTTP answers: gRPC status codes to HTTP statuses, and
//! the error body `{"code", "message", "field"}` every REST client sees.

use std::time::Duration;

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, Method, StatusCode, header};
use serde::Serialize;
use tonic::{Code, Status};

use crate::transcode::RequestError;

/// Every way a REST request fails at or behind the gateway.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The service answered with an error status.
    #[error("upstream: {0}")]
    Upstream(Status),
    /// The body, query or path does not fit the request message.
    #[error("bad request: {0}")]
    BadRequest(#[from] RequestError),
    /// No route serves the path.
    #[error("no route for {method} {path}")]
    NoRoute { method: Method, path: String },
    /// The path exists with other methods.
    #[error("method not allowed; use {}", allowed.iter().map(Method::as_str).collect::<Vec<_>>().join(", "))]
    MethodNotAllowed { allowed: Vec<Method> },
    /// Missing, forged, expired or wrong-algorithm token.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// A rate limit is exhausted.
    #[error("rate limit of the {limit} exceeded")]
    RateLimited {
        /// Which limit (`token` or `chain`).
        limit: &'static str,
        /// When to retry.
        retry_after: Duration,
    },
    /// The service's answer could not be turned into JSON.
    #[error("bad upstream response: {0}")]
    BadResponse(String),
    /// The request's headers, or the token in them, exceed a stated bound
    /// (`forward::MAX_REQUEST_HEADER_BYTES`, `maitre_kit::auth::MAX_TOKEN_BYTES`,
    /// `maitre_kit::auth::MAX_TOKEN_STORES`).
    #[error("{message}")]
    HeadersTooLarge {
        /// `headers`, or the header over its bound (`authorization`).
        field: String,
        /// What is too large and the limit.
        message: String,
    },
}

/// How long a caller should wait before retrying a service that could not be reached.
pub const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The JSON error body.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// The gRPC code name (`INVALID_ARGUMENT`, `NOT_FOUND`…).
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// The offending field (proto path), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The HTTP status for a gRPC code (google/rpc/code.proto mapping).
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Cancelled | Code::Unknown | Code::Internal | Code::DataLoss => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// The canonical name of a gRPC code.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

impl ApiError {
    /// The gRPC status equivalent, for gRPC and gRPC-Web callers.
    pub fn to_status(&self) -> Status {
        match self {
            Self::Upstream(status) => status.clone(),
            Self::BadRequest(e) => maitre_kit::error::invalid_argument(&e.field, e.message.clone()),
            Self::NoRoute { .. } | Self::MethodNotAllowed { .. } => {
                Status::unimplemented(self.to_string())
            }
            Self::Unauthenticated(m) => Status::unauthenticated(m.clone()),
            Self::RateLimited { .. } => Status::resource_exhausted(self.to_string()),
            Self::BadResponse(_) => Status::internal("bad upstream response"),
            Self::HeadersTooLarge { field, message } => {
                maitre_kit::error::invalid_argument(field, message.clone())
            }
        }
    }

    /// The JSON error body of this failure.
    pub fn body(&self) -> ErrorBody {
        self.parts().1
    }

    fn parts(&self) -> (StatusCode, ErrorBody) {
        let body = |code: Code, message: String, field: Option<String>| ErrorBody {
            code: code_name(code),
            message,
            field,
        };
        match self {
            Self::Upstream(status) => (
                http_status(status.code()),
                body(
                    status.code(),
                    status.message().to_owned(),
                    maitre_kit::error::field_of(status),
                ),
            ),
            Self::BadRequest(e) => (
                StatusCode::BAD_REQUEST,
                body(
                    Code::InvalidArgument,
                    e.to_string(),
                    Some(e.field.clone()).filter(|f| !f.is_empty()),
                ),
            ),
            Self::NoRoute { .. } => (
                StatusCode::NOT_FOUND,
                body(Code::NotFound, self.to_string(), None),
            ),
            Self::MethodNotAllowed { .. } => (
                StatusCode::METHOD_NOT_ALLOWED,
                body(Code::Unimplemented, self.to_string(), None),
            ),
            Self::Unauthenticated(m) => (
                StatusCode::UNAUTHORIZED,
                body(Code::Unauthenticated, m.clone(), None),
            ),
            Self::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                body(Code::ResourceExhausted, self.to_string(), None),
            ),
            Self::BadResponse(_) => (
                StatusCode::BAD_GATEWAY,
                body(Code::Internal, "bad upstream response".into(), None),
            ),
            Self::HeadersTooLarge { field, message } => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                body(Code::InvalidArgument, message.clone(), Some(field.clone())),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::BadResponse(cause) = &self {
            tracing::error!(%cause, "upstream response is not the contract's message");
        }
        let (status, body) = self.parts();
        let mut response = (status, Json(body)).into_response();
        match &self {
            Self::RateLimited { retry_after, .. } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, retry_after_header(*retry_after));
            }
            Self::MethodNotAllowed { allowed } => {
                let list = allowed
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                if let Ok(value) = HeaderValue::from_str(&list) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
            }
            Self::Unauthenticated(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            // A service that could not be reached is worth retrying shortly (RFC 9110 §15.6.4).
            Self::Upstream(status) if status.code() == Code::Unavailable => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    retry_after_header(UNAVAILABLE_RETRY_AFTER),
                );
            }
            _ => {}
        }
        response
    }
}

/// Whole seconds, rounded up, at least 1 (RFC 9110 `Retry-After: <delay-seconds>`).
pub fn retry_after_header(retry_after: Duration) -> HeaderValue {
    let seconds = retry_after.as_millis().div_ceil(1000).max(1);
    HeaderValue::from(u64::try_from(seconds).unwrap_or(u64::MAX))
}

/// A gRPC (trailers-only) answer for a refused gRPC or gRPC-Web call.
pub fn grpc_refusal(error: &ApiError) -> Response {
    let mut response = error.to_status().into_http::<axum::body::Body>();
    if let ApiError::RateLimited { retry_after, .. } = error {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, retry_after_header(*retry_after));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_http_statuses() {
        let expected = [
            (Code::InvalidArgument, 400),
            (Code::FailedPrecondition, 400),
            (Code::OutOfRange, 400),
            (Code::Unauthenticated, 401),
            (Code::PermissionDenied, 403),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::Aborted, 409),
            (Code::ResourceExhausted, 429),
            (Code::Unavailable, 503),
            (Code::DeadlineExceeded, 504),
            (Code::Unimplemented, 501),
            (Code::Internal, 500),
            (Code::Unknown, 500),
        ];
        for (code, status) in expected {
            assert_eq!(http_status(code).as_u16(), status, "{code:?}");
        }
    }

    #[test]
    fn upstream_errors_carry_the_field() {
        let error = ApiError::Upstream(maitre_kit::error::invalid_argument("store.name", "empty"));
        let (status, body) = error.parts();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body.code, "INVALID_ARGUMENT");
        assert_eq!(body.field.as_deref(), Some("store.name"));
    }

    #[test]
    fn unavailable_services_answer_503_with_retry_after() {
        let response =
            ApiError::Upstream(Status::unavailable("profile unavailable")).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn oversized_headers_answer_431_naming_the_field() {
        let error = ApiError::HeadersTooLarge {
            field: "authorization".into(),
            message: "too large".into(),
        };
        let (status, body) = error.parts();
        assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert_eq!(body.field.as_deref(), Some("authorization"));
        assert_eq!(error.to_status().code(), Code::InvalidArgument);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_header(Duration::from_millis(1)), "1");
        assert_eq!(retry_after_header(Duration::from_millis(1500)), "2");
        assert_eq!(retry_after_header(Duration::ZERO), "1");
    }
}
