//! Serving a gRPC service: health, reflection, trace context, timeouts, graceful shutdown,
//! header list bound, and the request text check (`request_text`).

use std::{future::Future, time::Duration};

use tokio::net::TcpListener;
use tonic::{
    service::Routes,
    transport::{Server, server::TcpIncoming},
};
use tonic_health::ServingStatus;

use crate::telemetry;

/// The largest request header list a service accepts (HTTP/2 `SETTINGS_MAX_HEADER_LIST_SIZE`,
/// name + value + 32 bytes per field). hyper's default of 16 KiB refused calls carrying a
/// valid token of a few hundred stores (431); this bound takes the largest accepted token
/// (`auth::MAX_TOKEN_BYTES`, 64 KiB) with the rest of a call's headers, with room to spare.
pub const MAX_HEADER_LIST_BYTES: u32 = 128 * 1024;

/// Why a server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The transport failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves `routes` (the service, wrapped in its auth interceptor) on `listener` with
/// `grpc.health.v1` and reflection for `service_names`, until `shutdown` resolves.
/// In-flight calls finish before this returns.
pub async fn serve_grpc(
    service_names: &[&str],
    routes: Routes,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    for name in service_names {
        reporter
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    let reflection = crate::reflection::Reflection::new(service_names);
    let routes = routes
        .add_service(health)
        .add_service(reflection.v1())
        .add_service(reflection.v1alpha());

    let shutdown = async move {
        shutdown.await;
        // Tell load balancers first, then stop accepting and drain.
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        for name in service_names {
            reporter
                .set_service_status(*name, ServingStatus::NotServing)
                .await;
        }
    };
    Server::builder()
        // A safety net only: callers set their own deadlines (grpc-timeout; the gateway's are
        // 30 s, 300 s for the bulk import of 10,000 events, which this must not cut short).
        .timeout(Duration::from_secs(300))
        .http2_max_header_list_size(MAX_HEADER_LIST_BYTES)
        .layer(crate::metrics::MetricsLayer)
        .layer(
            tower_http::trace::TraceLayer::new_for_grpc()
                .make_span_with(telemetry::server_span)
                .on_failure(telemetry::log_grpc_failure),
        )
        // Innermost: sees the request body exactly as the handler will.
        .layer(crate::request_text::RequestTextLayer)
        .add_routes(routes)
        // `Server::tcp_nodelay` only reaches sockets tonic accepts itself: accepted here,
        // every connection must be told. Without it a response's header, data and trailer
        // writes wait for the client's delayed ACK (~40 ms a call on Linux).
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await?;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown requested; draining in-flight calls");
}
