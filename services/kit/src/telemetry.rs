//! Telemetry: JSON logs through `tracing`, OpenTelemetry traces over OTLP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and W3C trace context carried in and out of
//! every gRPC call so one trace spans the gateway and every service.
//!
//! Every request span is named by its RPC (or route) and carries the trace id, so every log
//! line written while serving a call names the trace it belongs to, whether or not traces are
//! exported: without an exporter the tracer still assigns W3C ids and propagates them, it
//! just sends nothing.

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
    let exporting = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
        .and_then(|endpoint| match otlp_provider(service_name, &endpoint) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("OTLP export disabled: {e}");
                None
            }
        });
    // No exporter: a provider that only assigns ids, so logs still carry trace ids and the
    // gateway still hands its trace to the services.
    let provider = exporting.unwrap_or_else(|| SdkTracerProvider::builder().build());
    // Without busy/idle timings (a clock read on every enter and exit of every span: a
    // request's span is entered at each poll of its future) and without code location and
    // thread attributes (strings built for every span; a request span's location is this
    // module's). The gateway's forwarding costs about a tenth less CPU per call without them.
    let otel = tracing_opentelemetry::layer()
        .with_tracked_inactivity(false)
        .with_location(false)
        .with_threads(false)
        .with_tracer(provider.tracer(service_name.to_owned()));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(otel)
        .try_init();
    TelemetryGuard {
        provider: Some(provider),
    }
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
    let path = request.uri().path();
    let span = tracing::info_span!(
        "request",
        otel.name = %path,
        otel.kind = "server",
        rpc.path = %path,
        trace_id = tracing::field::Empty,
    );
    let _ = span.set_parent(parent);
    record_trace_id(&span);
    span
}

/// The span of one request at the edge (the gateway). Its name and route are recorded once
/// the route is known (`http.route`, e.g. `/v1/customers/{customer_id}`): the raw path is
/// never a field, since REST paths carry ids and phone numbers.
pub fn edge_span<B>(request: &http::Request<B>) -> tracing::Span {
    let parent =
        global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(request.headers())));
    let span = tracing::info_span!(
        "request",
        otel.name = tracing::field::Empty,
        otel.kind = "server",
        http.method = %request.method(),
        http.route = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    let _ = span.set_parent(parent);
    record_trace_id(&span);
    span
}

/// The root span of one unit of background work (a job's round, a consumer's run of events):
/// a trace of its own, so the lines that work logs carry a trace id as a call's lines do.
pub fn work_span(kind: &'static str, name: &str) -> tracing::Span {
    let span = tracing::info_span!(
        parent: None,
        "work",
        otel.name = %format_args!("{kind} {name}"),
        otel.kind = "internal",
        trace_id = tracing::field::Empty,
    );
    record_trace_id(&span);
    span
}

/// Puts the span's trace id into its `trace_id` field, which the JSON log layer prints on
/// every line written inside the span. Nothing is recorded when no tracer is installed
/// (unit tests without [`init`]).
pub fn record_trace_id(span: &tracing::Span) {
    use opentelemetry::trace::TraceContextExt as _;
    let context = span.context();
    let trace_id = context.span().span_context().trace_id();
    if trace_id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

/// Who a failed call's status blames: the caller's mistakes (a bad argument, a missing
/// permission, an unknown id) are the service working as designed and must not page the
/// operator; everything else is the service's own failure.
pub fn blames_the_caller(code: tonic::Code) -> bool {
    use tonic::Code::*;
    matches!(
        code,
        Cancelled
            | InvalidArgument
            | NotFound
            | AlreadyExists
            | PermissionDenied
            | ResourceExhausted
            | FailedPrecondition
            | Aborted
            | OutOfRange
            | Unauthenticated
    )
}

/// `TraceLayer` failure hook: a refused call is logged at INFO ("call refused"), a service
/// failure at ERROR ("call failed"), both with the gRPC code and the latency.
pub fn log_grpc_failure(
    class: tower_http::classify::GrpcFailureClass,
    latency: std::time::Duration,
    _span: &tracing::Span,
) {
    use tower_http::classify::GrpcFailureClass;
    let latency_ms = latency.as_secs_f64() * 1e3;
    match class {
        GrpcFailureClass::Code(code) => {
            let code = tonic::Code::from_i32(code.get());
            if blames_the_caller(code) {
                tracing::info!(grpc.code = ?code, latency_ms, "call refused");
            } else {
                tracing::error!(grpc.code = ?code, latency_ms, "call failed");
            }
        }
        GrpcFailureClass::Error(error) => {
            tracing::error!(%error, latency_ms, "call failed");
        }
    }
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

    /// A writer the JSON log layer writes into, for reading the lines back.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn background_work_logs_with_a_trace_of_its_own() {
        let provider = SdkTracerProvider::builder().build();
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(move || writer.clone()),
            )
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("t")));
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..2 {
                let span = work_span("job", "daily_scan");
                let _entered = span.enter();
                tracing::warn!("inside the round");
            }
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let ids: Vec<String> = text
            .lines()
            .map(|line| {
                let line: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(line["span"]["otel.name"], "job daily_scan", "{text}");
                line["span"]["trace_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        assert_eq!(ids.len(), 2, "{text}");
        assert!(ids.iter().all(|id| id.len() == 32), "{ids:?}");
        assert_ne!(ids[0], ids[1], "each round is its own trace");
    }

    #[test]
    fn only_the_services_own_failures_are_errors() {
        for code in [
            tonic::Code::InvalidArgument,
            tonic::Code::NotFound,
            tonic::Code::PermissionDenied,
            tonic::Code::Unauthenticated,
            tonic::Code::FailedPrecondition,
        ] {
            assert!(blames_the_caller(code), "{code:?}");
        }
        for code in [
            tonic::Code::Internal,
            tonic::Code::Unavailable,
            tonic::Code::Unknown,
            tonic::Code::DataLoss,
            tonic::Code::DeadlineExceeded,
            tonic::Code::Unimplemented,
        ] {
            assert!(!blames_the_caller(code), "{code:?}");
        }
    }

    #[test]
    fn every_log_line_inside_a_call_names_its_trace_and_rpc() {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let provider = SdkTracerProvider::builder().build();
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(move || writer.clone()),
            )
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
            tracing::info!("inside the call");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(
            line["span"]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736",
            "{text}"
        );
        assert_eq!(
            line["span"]["otel.name"], "/maitre.profile.v1.ProfileService/GetCustomer",
            "{text}"
        );
    }
}
