//! gRPC and gRPC-Web on the gateway's port: calls to the four services are forwarded with
//! their frames and trailers unchanged (every streaming kind) and only bounded headers
//! (`forward`) to the upstream that serves the service;
//! gRPC-Web is translated to gRPC on the way in and back on the way out (`tonic_web`).
//! The gateway answers health and reflection itself, listing all four services.

use std::{convert::Infallible, sync::Arc};

use axum::Router;
use http::Version;
use maitre_kit::auth::Caller;
use tonic::{Status, body::Body, server::NamedService};
use tonic_health::ServingStatus;
use tower::{Layer, ServiceExt};

use crate::AppState;

/// Routes `/<service>/<Method>` of each fronted service to the forwarding proxy (behind the
/// gRPC-Web translation).
pub fn proxy_routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let proxy = tower::service_fn(move |request: http::Request<Body>| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(forward(&state, request).await) }
    });
    // gRPC-Web (and anything not HTTP/2, which tonic-web answers 400) goes through the
    // translation; plain gRPC over HTTP/2 goes straight to the proxy, without the
    // translation's per-call header checks and body wrapping.
    let web = tonic_web::GrpcWebLayer::new().layer(proxy.clone());
    let service = tower::service_fn(move |request: http::Request<axum::body::Body>| {
        let (proxy, web) = (proxy.clone(), web.clone());
        async move {
            if request.version() == Version::HTTP_2 && !is_grpc_web(request.headers()) {
                proxy.oneshot(request.map(Body::new)).await
            } else {
                web.oneshot(request).await
            }
        }
    });
    maitre_proto::SERVICE_NAMES
        .iter()
        .fold(Router::new(), |router, name| {
            router.route_service(&format!("/{name}/{{method}}"), service.clone())
        })
}

/// Whether the request's content type is one of gRPC-Web's (`application/grpc-web…`).
fn is_grpc_web(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc-web"))
}

/// Health (`grpc.health.v1`) and reflection (v1 and v1alpha, `maitre_kit::reflection`)
/// answered by the gateway.
pub async fn local_services() -> Router {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    for name in maitre_proto::SERVICE_NAMES {
        reporter
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    let reflection = maitre_kit::reflection::Reflection::new(&maitre_proto::SERVICE_NAMES);
    let (v1, v1alpha) = (reflection.v1(), reflection.v1alpha());
    Router::new()
        .route_service(&service_path(&health), health)
        .route_service(&service_path(&v1), v1)
        .route_service(&service_path(&v1alpha), v1alpha)
}

/// `/<service>/{method}` for a generated server.
fn service_path<S: NamedService>(_: &S) -> String {
    format!("/{}/{{method}}", S::NAME)
}

/// Forwards one gRPC call to its upstream: frames unchanged, headers bounded.
async fn forward(state: &AppState, request: http::Request<Body>) -> http::Response<Body> {
    let service_name = request
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let Some((upstream, channel)) = state.upstreams.for_grpc_service(&service_name) else {
        return Status::unimplemented(format!("unknown service {service_name}")).into_http();
    };
    let (mut parts, body) = request.into_parts();
    let Some(caller) = parts.extensions.get::<Caller>() else {
        return Status::unauthenticated("missing bearer token").into_http();
    };
    // Only the verified token, the bounded forwarded headers and the gRPC protocol headers
    // go on: the connection is shared with every other caller's calls (`forward`).
    parts.headers = crate::forward::forwarded_grpc_headers(caller, &parts.headers);
    parts.version = Version::HTTP_2;
    maitre_kit::telemetry::inject_context(&mut parts.headers);
    let request = http::Request::from_parts(parts, body);
    match channel.send(request).await {
        Ok(response) => response,
        Err(e) => maitre_kit::error::unavailable(upstream.as_str(), e).into_http(),
    }
}
