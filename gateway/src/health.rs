//! `/healthz` (the process answers) and `/readyz` (the gateway can serve), with each
//! upstream's gRPC health reported beside it, cached for a few seconds so probes never
//! hammer the services.
//!
//! Readiness is the gateway's own: one service down (or not deployed) must not take the
//! whole API out of the load balancer, since every route of the other services still
//! works. Calls to a down service answer 503 with `Retry-After`; to a disabled one, 501.
//! Each upstream's state is in the report and in `maitre_gateway_upstream_serving`.

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
    cached: Mutex<Option<(Instant, Value)>>,
}

impl Readiness {
    /// Readiness of `upstreams`.
    pub fn new(upstreams: Upstreams) -> Self {
        Self {
            upstreams,
            cached: Mutex::new(None),
        }
    }

    /// The readiness report: each upstream's state, and which deployed ones are degraded.
    pub async fn check(&self) -> Value {
        let mut cached = self.cached.lock().await;
        if let Some((at, report)) = cached.as_ref()
            && at.elapsed() < READINESS_TTL
        {
            return report.clone();
        }
        let checks = SERVICES.map(|service| {
            let channel = self.upstreams.channel(service);
            async move {
                let state = match channel {
                    Some(channel) => serving_state(channel).await,
                    None => "DISABLED".to_owned(),
                };
                let serving = if state == "SERVING" { 1.0 } else { 0.0 };
                metrics::gauge!("maitre_gateway_upstream_serving", "service" => service.as_str())
                    .set(serving);
                (service.as_str(), state)
            }
        });
        let results = futures::future::join_all(checks).await;
        let degraded: Vec<&str> = results
            .iter()
            .filter(|(_, state)| state != "SERVING" && state != "DISABLED")
            .map(|(name, _)| *name)
            .collect();
        let report = json!({
            "ready": true,
            "degraded": degraded,
            "upstreams": results
                .into_iter()
                .map(|(name, state)| (name.to_owned(), Value::String(state)))
                .collect::<serde_json::Map<_, _>>(),
        });
        *cached = Some((Instant::now(), report.clone()));
        report
    }
}

async fn serving_state(channel: crate::upstream::Connection) -> String {
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

/// `GET /readyz`: 200 while the gateway serves, with every upstream's state (`degraded`
/// lists the deployed ones not serving).
pub async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (StatusCode::OK, Json(state.readiness.check().await))
}
