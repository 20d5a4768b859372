//! The gateway's access log and RED metrics: for every request one INFO line (method, route
//! template, status, gRPC code, duration, chain, request id) and one count and one timing in
//! `maitre_gateway_requests_total` / `maitre_gateway_request_duration_seconds`.
//!
//! Labels are bounded whatever a caller sends: a route is the REST template the request
//! matched (`/v1/customers/{customer_id}`, never the id), the gRPC method when the contract
//! has it, the axum route for the gateway's own endpoints, and `unmatched` otherwise. The
//! chain is logged, never a label (one series per chain would grow with the customer base);
//! no token, query string or body is ever logged (phones travel in queries and bodies).
//!
//! For streams (SSE, server-streaming gRPC) the duration is the time to the response head.

use std::{collections::HashSet, sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};

/// The route a handler served, put into the response's extensions by handlers whose route
/// axum does not know (the REST fallback knows its template).
#[derive(Clone, Debug)]
pub struct RouteLabel(pub Arc<str>);

/// The caller's chain, put into the response's extensions by the edge once the token is
/// verified.
#[derive(Clone, Debug)]
pub struct ChainLabel(pub Arc<str>);

/// Every gRPC path the contract defines (`/<service>/<method>`), so a forwarded call is
/// labelled by its method only when the method exists.
#[derive(Debug)]
pub struct KnownRpcs(HashSet<Arc<str>>);

impl KnownRpcs {
    /// The methods of the contract's services and of the gateway's own (health, reflection).
    pub fn from_pool(pool: &prost_reflect::DescriptorPool) -> Self {
        let paths = pool
            .services()
            .flat_map(|service| {
                let name = service.full_name().to_owned();
                service
                    .methods()
                    .map(move |method| Arc::from(format!("/{name}/{}", method.name())))
                    .collect::<Vec<_>>()
            })
            .collect();
        KnownRpcs(paths)
    }

    /// The method's label, shared rather than allocated per request.
    fn label(&self, path: &str) -> Option<Arc<str>> {
        self.0.get(path).cloned()
    }
}

/// Middleware: logs and counts the request once its response head is ready.
pub async fn record(State(known): State<Arc<KnownRpcs>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let grpc_label = known.label(request.uri().path());
    // Cheap clones (shared bytes), read as text only for the log line.
    let request_id = request.headers().get("x-request-id").cloned();
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let elapsed = started.elapsed();

    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map(|r| Arc::clone(&r.0))
        .or(grpc_label)
        .or_else(|| matched.map(|m| Arc::from(m.as_str())))
        .unwrap_or_else(|| Arc::from("unmatched"));
    let status = response.status().as_u16();
    // gRPC errors come trailers-only (the code in the head); a success's code is in the
    // trailers, after the head: `0` when the head says nothing.
    let grpc_code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| is_grpc_response(&response).then(|| "0".to_owned()))
        .unwrap_or_default();
    let chain = response
        .extensions()
        .get::<ChainLabel>()
        .map(|c| Arc::clone(&c.0));
    let span = tracing::Span::current();
    span.record(
        "otel.name",
        tracing::field::display(format_args!("{method} {route}")),
    );
    span.record("http.route", tracing::field::display(&route));

    tracing::info!(
        http.method = %method,
        route = %route,
        status,
        grpc.code = %grpc_code,
        duration_ms = elapsed.as_secs_f64() * 1e3,
        chain = chain.as_deref().unwrap_or("-"),
        request_id = request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
        "request served"
    );
    let labels = [
        ("method", method.as_str().to_owned()),
        ("route", route.to_string()),
        ("status", status.to_string()),
        ("grpc_code", grpc_code),
    ];
    metrics::counter!("maitre_gateway_requests_total", &labels).increment(1);
    metrics::histogram!(
        "maitre_gateway_request_duration_seconds",
        "method" => method.as_str().to_owned(),
        "route" => route.to_string()
    )
    .record(elapsed.as_secs_f64());
    response
}

fn is_grpc_response(response: &Response) -> bool {
    response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}
