//! `/healthz` (the process answers) and `/readyz` (every upstream's gRPC health says
//! SERVING), the latter cached for a few seconds so probes never hammer the services.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    AppState,
    upstream::{SERVICES, Upstreams},
};

/// How long a readiness answer is reused.
const READINESS_TTL: Duration = Duration::from_secs(3);
/// How long one upstream health check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Upstream readiness with a short cache.
pub struct Readiness {
    upstreams: Upstreams,
    cached: Mutex<Option<(Instant, bool, Value)>>,
}

impl Readiness {
    /// Readiness of `upstreams`.
    pub fn new(upstreams: Upstreams) -> Self {
        Self {
            upstreams,
            cached: Mutex::new(None),
        }
    }

    /// Whether every upstream is serving, and each one's state.
    pub async fn check(&self) -> (bool, Value) {
        let mut cached = self.cached.lock().await;
        if let Some((at, ready, report)) = cached.as_ref()
            && at.elapsed() < READINESS_TTL
        {
            return (*ready, report.clone());
        }
        let checks = SERVICES.map(|service| {
            let channel = self.upstreams.channel(service);
            async move {
                let state = match channel {
                    Some(channel) => serving_state(channel).await,
                    None => "NOT_CONFIGURED".to_owned(),
                };
                (service.as_str(), state)
            }
        });
        let results = futures::future::join_all(checks).await;
        let ready = results.iter().all(|(_, state)| state == "SERVING");
        let report = json!({
            "ready": ready,
            "upstreams": results
                .into_iter()
                .map(|(name, state)| (name.to_owned(), Value::String(state)))
                .collect::<serde_json::Map<_, _>>(),
        });
        *cached = Some((Instant::now(), ready, report.clone()));
        (ready, report)
    }
}

async fn serving_state(channel: tonic::transport::Channel) -> String {
    let mut client = HealthClient::new(channel);
    let check = client.check(HealthCheckRequest {
        service: String::new(),
    });
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(response)) => ServingStatus::try_from(response.into_inner().status)
            .map(|s| s.as_str_name().to_owned())
            .unwrap_or_else(|_| "UNKNOWN".to_owned()),
        Ok(Err(status)) => format!("UNAVAILABLE: {}", status.message()),
        Err(_) => "TIMEOUT".to_owned(),
    }
}

/// `GET /healthz`.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when every upstream is serving, else 503 with the list.
pub async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let (ready, report) = state.readiness.check().await;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}
