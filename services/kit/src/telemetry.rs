//! Telemetry: JSON logs through `tracing`, OpenTelemetry traces over OTLP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and W3C trace context carried in and out of
//! every gRPC call so one trace spans the gateway and every service.

use http::HeaderMap;
use opentelemetry::{
    global,
    propagation::{Extractor, Injector},
    trace::TracerProvider as _,
};
use opentelemetry_sdk::{propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

/// Flushes and stops trace export when dropped.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs logging and tracing for the process (first call wins; later calls are no-ops).
pub fn init(service_name: &str) -> TelemetryGuard {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_target(false);
    let provider = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
        .and_then(|endpoint| match otlp_provider(service_name, &endpoint) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("OTLP export disabled: {e}");
                None
            }
        });
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service_name.to_owned())));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(otel)
        .try_init();
    TelemetryGuard { provider }
}

fn otlp_provider(
    service_name: &str,
    endpoint: &str,
) -> Result<SdkTracerProvider, Box<dyn std::error::Error>> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()?;
    let name =
        std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| format!("maitre-{service_name}"));
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(name)
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::try_from(key),
            http::HeaderValue::try_from(value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// A server span for an incoming request, continuing the caller's trace (`traceparent`).
pub fn server_span<B>(request: &http::Request<B>) -> tracing::Span {
    let parent =
        global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(request.headers())));
    let span =
        tracing::info_span!("request", otel.kind = "server", rpc.path = %request.uri().path());
    let _ = span.set_parent(parent);
    span
}

/// Writes the current span's context into outgoing headers.
pub fn inject_context(headers: &mut HeaderMap) {
    let context = tracing::Span::current().context();
    global::get_text_map_propagator(|p| p.inject_context(&context, &mut HeaderInjector(headers)));
}

/// Writes the current span's context into outgoing gRPC metadata.
pub fn inject_into_request<T>(request: &mut tonic::Request<T>) {
    let mut headers = std::mem::take(request.metadata_mut()).into_headers();
    inject_context(&mut headers);
    *request.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_is_continued_and_forwarded() {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("t")));
        tracing::subscriber::with_default(subscriber, || {
            let incoming = http::Request::builder()
                .uri("/maitre.profile.v1.ProfileService/GetCustomer")
                .header(
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                )
                .body(())
                .unwrap();
            let span = server_span(&incoming);
            let _entered = span.enter();
            let mut outgoing = tonic::Request::new(());
            inject_into_request(&mut outgoing);
            let forwarded = outgoing
                .metadata()
                .get("traceparent")
                .expect("traceparent forwarded")
                .to_str()
                .unwrap();
            assert!(
                forwarded.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
                "{forwarded}"
            );
            assert!(
                !forwarded.contains("00f067aa0ba902b7"),
                "a new span id for the child: {forwarded}"
            );
        });
    }
}
