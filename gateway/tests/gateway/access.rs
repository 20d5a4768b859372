//! The access log and the RED metrics: one line and one count per request, labelled by route
//! template (never the ids in the path), with the caller's chain in the log and never their
//! token.

use std::sync::{Arc, Mutex, OnceLock};

use maitre_gateway::GatewayOptions;
use maitre_kit::{client::outgoing, testing::Backend};
use maitre_proto::profile::v1::{GetStoreRequest, profile_service_client::ProfileServiceClient};
use metrics_exporter_prometheus::PrometheusHandle;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{hq, setup, token};

/// The log lines written by this process, as a JSON log layer writes them.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The process-wide recorder and log writer (installed once; tests of this file share them and
/// tell their requests apart by request id).
fn observed() -> &'static (PrometheusHandle, Lines) {
    static OBSERVED: OnceLock<(PrometheusHandle, Lines)> = OnceLock::new();
    OBSERVED.get_or_init(|| {
        use tracing_subscriber::{Layer as _, layer::SubscriberExt};
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).expect("one recorder per test process");
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_writer(move || writer.clone())
                .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
        );
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber per process");
        (handle, lines)
    })
}

fn access_lines(request_id: &str) -> Vec<serde_json::Value> {
    let (_, lines) = observed();
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| {
            line["fields"]["message"] == "request served"
                && line["fields"]["request_id"] == request_id
        })
        .collect()
}

async fn every_request_is_logged_and_counted_by_its_template(backend: Backend) {
    let _ = observed();
    let s = setup(backend, GatewayOptions::default()).await;
    let client = maitre_kit::http::client();
    let bearer = hq();
    let created = client
        .post(format!("{}/v1/stores", s.url))
        .header("authorization", &bearer)
        .header("x-request-id", format!("{backend:?}-create"))
        .json(&json!({"store": {"name": "Main street"}, "requestId": "r1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    let missing = client
        .get(format!("{}/v1/stores/13800138000", s.url))
        .header("authorization", &bearer)
        .header("x-request-id", format!("{backend:?}-missing"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let mut grpc = ProfileServiceClient::connect(s.url.clone()).await.unwrap();
    let mut request = outgoing(
        GetStoreRequest {
            store_id: "s1".into(),
        },
        &token(maitre_kit::auth::Role::HqAdmin, "hq-1"),
    );
    request
        .metadata_mut()
        .insert("x-request-id", format!("{backend:?}-grpc").parse().unwrap());
    grpc.get_store(request).await.unwrap();

    // The line names the template, the status and the chain, never the path's id or a token.
    let line = access_lines(&format!("{backend:?}-missing"));
    assert_eq!(
        line.len(),
        1,
        "one access line per request: {}",
        String::from_utf8(observed().1.0.lock().unwrap().clone()).unwrap()
    );
    let fields = &line[0]["fields"];
    assert_eq!(fields["route"], "/v1/stores/{store_id}");
    assert_eq!(fields["status"], 404);
    assert_eq!(fields["chain"], "chain-1");
    let text = line[0].to_string();
    assert!(
        !text.contains("13800138000"),
        "no ids from the path: {text}"
    );
    assert!(
        !text.contains(bearer.trim_start_matches("Bearer ")),
        "no token: {text}"
    );
    let grpc_line = access_lines(&format!("{backend:?}-grpc"));
    assert_eq!(grpc_line.len(), 1);
    assert_eq!(
        grpc_line[0]["fields"]["route"],
        "/maitre.profile.v1.ProfileService/GetStore"
    );
    assert_eq!(grpc_line[0]["fields"]["grpc.code"], "0");

    // The scrape counts by method, template and status.
    let scrape = observed().0.render();
    for series in [
        r#"maitre_gateway_requests_total{method="POST",route="/v1/stores",status="200",grpc_code=""}"#,
        r#"maitre_gateway_requests_total{method="GET",route="/v1/stores/{store_id}",status="404",grpc_code=""}"#,
        r#"maitre_gateway_requests_total{method="POST",route="/maitre.profile.v1.ProfileService/GetStore",status="200",grpc_code="0"}"#,
        "maitre_gateway_request_duration_seconds",
    ] {
        assert!(scrape.contains(series), "{series} missing from:\n{scrape}");
    }
    assert!(!scrape.contains("13800138000"));
}

maitre_kit::on_both_backends!(every_request_is_logged_and_counted_by_its_template);
