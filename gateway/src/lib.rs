//! The Maitre gateway: the single entry for apps (REST/JSON, gRPC-Web, gRPC) over the
//! four services, with authentication, rate limits, request ids, tracing and live updates.
//!
//! - [`routes`]: the route table read from the contract's `google.api.http` annotations;
//! - [`transcode`] and [`rest`]: the one generic REST handler;
//! - [`grpc`]: gRPC and gRPC-Web forwarding, health and reflection;
//! - [`edge`]: bearer tokens, API keys ([`api_keys`]) and rate limits; [`shares`]: each chain's
//!   share of the replica's requests in flight; [`errors`]: failures to HTTP;
//! - [`forward`]: the bounded headers passed on to services;
//! - [`openapi`]: `/openapi.json` and `/docs` from the same route table;
//! - [`stream`]: `/v1/stream` server-sent events; [`health`]: `/healthz`, `/readyz`;
//! - [`audit`]: `/v1/audit`, every service's audit trail merged, newest first;
//! - [`consumers`]: `/v1/consumers`, every service's consumers and their lag;
//! - [`access`]: the access log line and RED metrics of every request;
//! - [`body_limit`]: body limits per route, and JSON bodies for every REST error;
//! - [`callbacks`]: `/v1/callbacks/…`, the providers' receipts and replies (no staff token);
//! - [`console`]: `/console`, the staff console (static files) and its development sign-in.
//!
//! The gateway owns no data: the services verify the forwarded token again and enforce
//! chain and store scope themselves.

pub mod access;
pub mod api_keys;
pub mod audit;
pub mod body_limit;
pub mod callbacks;
pub mod console;
pub mod consumers;
pub mod edge;
pub mod errors;
pub mod forward;
pub mod grpc;
pub mod health;
pub mod openapi;
mod options;
pub mod rest;
pub mod routes;
pub mod shares;
pub mod stream;
pub mod transcode;
pub mod upstream;

use std::{future::Future, sync::Arc, time::Duration};

use axum::{
    Router,
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware,
    response::{Html, IntoResponse},
    routing::get,
    serve::ListenerExt,
};
use maitre_kit::config::Config;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::TraceLayer,
};

pub use options::GatewayOptions;

use crate::{edge::Edge, health::Readiness, routes::RouteTable, upstream::Upstreams};

/// Why the gateway could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Serving HTTP failed.
    #[error("gateway I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A gateway setting is unusable.
    #[error("gateway configuration {variable}: {reason}")]
    Config { variable: String, reason: String },
    /// The token verifier could not be built (e.g. production with the development key).
    #[error("gateway auth: {0}")]
    Auth(#[from] maitre_kit::auth::AuthError),
    /// The coordination backend (Redis) could not be reached.
    #[error("gateway coordination: {0}")]
    Coordination(#[from] maitre_kit::coord::CoordError),
    /// The contract's annotations could not be turned into routes.
    #[error("gateway routes: {0}")]
    Routes(#[from] routes::RouteError),
    /// An upstream URL is unusable.
    #[error("gateway upstream: {0}")]
    Upstream(#[from] upstream::UpstreamError),
}

/// What every handler shares, built once in [`serve_with`].
pub struct AppState {
    /// REST routes from the contract.
    pub routes: RouteTable,
    /// Channels to the services.
    pub upstreams: Upstreams,
    /// Authentication and rate limits.
    pub edge: Edge,
    /// Each chain's share of this replica's requests in flight.
    pub shares: shares::ChainShares,
    /// `/readyz`.
    pub readiness: Readiness,
    /// `/openapi.json`, rendered once.
    pub openapi: bytes::Bytes,
}

/// Runs the gateway on `listener` until `shutdown` resolves, with options from the
/// environment (`MAITRE_RATE_LIMIT_PER_MINUTE`, `MAITRE_CORS_ORIGINS`, …).
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    let options = GatewayOptions::from_env()?;
    serve_with(config, options, listener, shutdown).await
}

/// Runs the gateway with explicit options (tests set limits without touching the environment).
pub async fn serve_with(
    config: Config,
    options: GatewayOptions,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    let app = app(&config, &options).await?;
    tracing::info!(addr = ?listener.local_addr().ok(), "gateway serving");
    // Small responses go out at once rather than waiting on the client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// The whole HTTP application: public endpoints, protected REST/gRPC/SSE, and the layers.
pub async fn app(config: &Config, options: &GatewayOptions) -> Result<Router, GatewayError> {
    let verifier = maitre_kit::auth::Verifier::from_config(config)?;
    let coord = maitre_kit::coord::connect(
        config.redis_url.as_deref(),
        &format!("{}gateway:", config.redis_prefix),
    )
    .await?;
    let routes = RouteTable::from_pool(
        maitre_proto::descriptor_pool(),
        &maitre_proto::SERVICE_NAMES,
    )?;
    let openapi = bytes::Bytes::from(openapi::document(&routes).to_string());
    let upstreams = Upstreams::from_config(config)?;
    let edge = Edge::new(verifier, coord, options.rate_limits)
        .with_api_keys(api_keys::ApiKeys::new(upstreams.clone()));
    let state = Arc::new(AppState {
        routes,
        readiness: Readiness::new(upstreams.clone()),
        upstreams,
        edge,
        shares: shares::ChainShares::new(options.chain_concurrency),
        openapi,
    });

    let protected = Router::new()
        .route("/v1/stream", get(stream::stream))
        .route("/v1/consumers", get(consumers::consumers))
        .route("/v1/audit", get(audit::audit))
        .merge(grpc::proxy_routes(Arc::clone(&state)))
        .fallback(rest::handle)
        // body_limit::limit bounds every body per route; axum's own 2 MB default would cut
        // the bulk import short.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            edge::guard,
        ));
    let public = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(|| async { Html(openapi::DOCS_HTML) }))
        // Verified by notification against the chain's provider account, not by a staff token.
        .route(
            callbacks::ROUTE,
            get(callbacks::receive).post(callbacks::receive),
        );
    let router = public
        .merge(protected)
        .with_state(Arc::clone(&state))
        .merge(grpc::local_services().await)
        .merge(console::routes(config));

    let request_id = HeaderName::from_static("x-request-id");
    let limits = body_limit::BodyLimits {
        default_bytes: options.max_body_bytes,
        import_bytes: options.max_import_body_bytes,
    };
    let layers = ServiceBuilder::new()
        // Outermost: whatever answers below, a REST error reaches the client as JSON; and
        // first of all it bounds the headers (`forward::bound`), so nothing below (tracing,
        // request ids, handlers) sees an unbounded header.
        .layer(middleware::from_fn_with_state(
            limits,
            body_limit::json_errors,
        ))
        .layer(SetRequestIdLayer::new(request_id.clone(), FastRequestId))
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(TraceLayer::new_for_http().make_span_with(maitre_kit::telemetry::edge_span))
        // Inside the span, so the access line carries the trace id.
        .layer(middleware::from_fn_with_state(
            Arc::new(access::KnownRpcs::from_pool(maitre_proto::descriptor_pool())),
            access::record,
        ))
        .option_layer(cors_layer(&options.cors_origins)?)
        // The body limit and the deadline in one layer (one boxed layer fewer per request).
        .layer(middleware::from_fn_with_state(
            Deadlines {
                default: options.request_timeout,
                import: IMPORT_TIMEOUT.max(options.request_timeout),
                limits,
            },
            deadline,
        ));
    Ok(router.layer(layers))
}

/// Request ids as UUID v4 text from the thread's generator (`rand::random`: seeded from the
/// OS, reseeded now and then) rather than tower-http's `MakeRequestUuid`, whose
/// `Uuid::new_v4` makes a `getrandom` system call for every request.
#[derive(Clone, Copy, Debug, Default)]
struct FastRequestId;

impl MakeRequestId for FastRequestId {
    fn make_request_id<B>(&mut self, _: &http::Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = id.hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}

/// The bulk import's deadline: the 10,000 events `RecordEventsBatch` documents each may create a
/// guest, which takes longer than an ordinary call's deadline on a small node (about 30 s for a
/// debug build on two cores). Every other call keeps `MAITRE_REQUEST_TIMEOUT_SECS`.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(300);

/// The deadlines in force at the edge, and the body limits applied with them.
#[derive(Debug, Clone, Copy)]
struct Deadlines {
    default: Duration,
    import: Duration,
    limits: body_limit::BodyLimits,
}

/// Bounds the body (`body_limit::bound_body`: 413 over the route's limit), then answers 504
/// when a call outlives its deadline (the JSON body is added by `json_errors`).
async fn deadline(
    axum::extract::State(deadlines): axum::extract::State<Deadlines>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let request = match body_limit::bound_body(deadlines.limits, request) {
        Ok(request) => request,
        Err(refusal) => return *refusal,
    };
    let limit = if body_limit::IMPORT_PATHS.contains(&request.uri().path()) {
        deadlines.import
    } else {
        deadlines.default
    };
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => StatusCode::GATEWAY_TIMEOUT.into_response(),
    }
}

async fn openapi_json(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        state.openapi.clone(),
    )
}

/// CORS for the configured origins; none configured = no cross-origin access.
fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>, GatewayError> {
    if origins.is_empty() {
        return Ok(None);
    }
    let origins = origins
        .iter()
        .map(|o| {
            HeaderValue::from_str(o).map_err(|e| GatewayError::Config {
                variable: "MAITRE_CORS_ORIGINS".into(),
                reason: format!("`{o}`: {e}"),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let allowed_headers = [
        "authorization",
        "content-type",
        "x-request-id",
        "traceparent",
        "last-event-id",
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
    ]
    .map(HeaderName::from_static);
    let exposed = [
        "x-request-id",
        "retry-after",
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
    ]
    .map(HeaderName::from_static);
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers(allowed_headers)
            .expose_headers(exposed)
            .max_age(Duration::from_secs(600)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_cross_threads_for_anyhow_callers() {
        fn assert_error<T: std::error::Error + Send + Sync + 'static>() {}
        assert_error::<GatewayError>();
    }

    #[tokio::test]
    async fn production_refuses_to_start_with_the_development_key() {
        let config = Config::from_lookup(maitre_kit::config::ServiceName::Gateway, |k| {
            (k == "MAITRE_ENV").then(|| "production".to_owned())
        })
        .unwrap();
        let refused = app(&config, &GatewayOptions::default()).await;
        assert!(matches!(refused, Err(GatewayError::Auth(_))));
    }

    #[test]
    fn request_ids_are_distinct_uuid_v4() {
        let request = http::Request::new(());
        let mut make = FastRequestId;
        let a = make.make_request_id(&request).unwrap();
        let b = make.make_request_id(&request).unwrap();
        assert_ne!(a.header_value(), b.header_value());
        let id = uuid::Uuid::parse_str(a.header_value().to_str().unwrap()).unwrap();
        assert_eq!(id.get_version_num(), 4);
    }

    #[test]
    fn cors_origins_must_be_header_values() {
        assert!(cors_layer(&[]).unwrap().is_none());
        assert!(cors_layer(&["https://a.example".into()]).unwrap().is_some());
        assert!(cors_layer(&["bad\norigin".into()]).is_err());
    }
}
