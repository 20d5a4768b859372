//! Request metrics: a tower layer counting calls and timing them per RPC and status,
//! exported in the Prometheus text format on `MAITRE_METRICS_LISTEN`.

use std::{
    net::SocketAddr,
    task::{Context, Poll},
    time::Instant,
};

use futures::future::BoxFuture;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tower::{Layer, Service};

/// Latency buckets in seconds: sub-millisecond service calls up to slow batch imports.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the process-wide recorder and serves `/metrics` on `listen` (once per process).
pub fn install(listen: SocketAddr) -> Result<(), String> {
    PrometheusBuilder::new()
        .with_http_listener(listen)
        .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), LATENCY_BUCKETS)
        .map_err(|e| e.to_string())?
        .install()
        .map_err(|e| e.to_string())
}

/// Counts and times every request by RPC path and gRPC status.
#[derive(Clone, Copy, Debug, Default)]
pub struct MetricsLayer;

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        MetricsService { inner }
    }
}

/// The service made by [`MetricsLayer`].
#[derive(Clone, Debug)]
pub struct MetricsService<S> {
    inner: S,
}

impl<S, B, R> Service<http::Request<B>> for MetricsService<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (service, method) = split_path(request.uri().path());
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            // Errors travel in a trailers-only response (status in the headers); success
            // puts `grpc-status: 0` in the trailers, which this layer does not wait for.
            let code = match &result {
                Ok(r) => r
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("0")
                    .to_owned(),
                Err(_) => "transport".to_owned(),
            };
            let labels = [("service", service), ("method", method), ("code", code)];
            metrics::counter!("grpc_server_requests_total", &labels).increment(1);
            metrics::histogram!("grpc_server_request_duration_seconds", &labels)
                .record(started.elapsed().as_secs_f64());
            result
        })
    }
}

/// `/maitre.profile.v1.ProfileService/GetCustomer` → (`maitre.profile.v1.ProfileService`, `GetCustomer`).
fn split_path(path: &str) -> (String, String) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default().to_owned();
    let method = parts.next().unwrap_or_default().to_owned();
    (service, method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_grpc_paths() {
        assert_eq!(
            split_path("/maitre.profile.v1.ProfileService/GetCustomer"),
            (
                "maitre.profile.v1.ProfileService".into(),
                "GetCustomer".into()
            )
        );
        assert_eq!(split_path("/"), (String::new(), String::new()));
    }

    #[tokio::test]
    async fn records_calls_by_rpc_and_status() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let service = tower::service_fn(|_req: http::Request<()>| async {
            let mut response = http::Response::new(());
            response
                .headers_mut()
                .insert("grpc-status", http::HeaderValue::from_static("5"));
            Ok::<_, std::convert::Infallible>(response)
        });
        let mut service = MetricsLayer.layer(service);
        let request = http::Request::builder()
            .uri("/maitre.profile.v1.ProfileService/GetCustomer")
            .body(())
            .unwrap();
        metrics::with_local_recorder(&recorder, || {
            let future = service.call(request);
            futures::executor::block_on(future).unwrap();
        });
        let text = handle.render();
        assert!(
            text.contains(r#"grpc_server_requests_total{service="maitre.profile.v1.ProfileService",method="GetCustomer",code="5"} 1"#),
            "{text}"
        );
    }
}
