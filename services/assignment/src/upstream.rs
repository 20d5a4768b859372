//! Following profile's event log (contacts, merges, erasures, store time zones) with
//! `kit::eventlog::follow`, the cursor committed with each effect. Started only once
//! profile (`MAITRE_PROFILE_URL`) is reachable: the probe repeats quietly until then, so a
//! service started alone (tests, embedded tools) makes no failing calls.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use maitre_kit::config::ServiceName;
use maitre_kit::eventlog::follow;

use crate::engine::{Engine, ProfileEvents};

/// Pause between reachability probes of profile (a TCP connect: cheap, and contacts wait
/// for the stream while profile is out of reach).
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// `host:port` of an `http://host:port[/…]` URL.
fn authority(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().filter(|a| !a.is_empty())
}

async fn reachable(url: &str) -> bool {
    match authority(url) {
        Some(address) => tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect(address),
        )
        .await
        .is_ok_and(|connected| connected.is_ok()),
        None => false,
    }
}

/// Consumes profile's stream until `shutdown` (waiting for profile to be reachable first).
pub async fn follow_profile(engine: Arc<Engine>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let url = engine
        .runtime
        .config
        .upstream(ServiceName::Profile)
        .to_owned();
    loop {
        if reachable(&url).await {
            break;
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(PROBE_EVERY) => {}
        }
    }
    tracing::info!(url, "following profile's events");
    let runtime = engine.runtime.clone();
    let handler = Arc::new(ProfileEvents { engine });
    follow(
        &runtime,
        "assignment<-profile",
        ServiceName::Profile,
        handler,
        shutdown,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_of_service_urls() {
        assert_eq!(authority("http://127.0.0.1:8081"), Some("127.0.0.1:8081"));
        assert_eq!(authority("http://profile:50051/"), Some("profile:50051"));
        assert_eq!(authority("http://"), None);
    }
}
