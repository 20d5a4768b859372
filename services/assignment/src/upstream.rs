//! Following profile's event log (merges, erasures, store time zones) with
//! `kit::eventlog::Consumer`, the cursor committed with each effect. Started only once
//! profile (`MAITRE_PROFILE_URL`) is reachable: the probe repeats quietly until then, so a
//! service started alone (tests, embedded tools) makes no failing calls.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use maitre_kit::auth::ALL_CHAINS;
use maitre_kit::client::{lazy_channel, outgoing};
use maitre_kit::config::ServiceName;
use maitre_kit::eventlog::{ConsumeError, Consumer};
use maitre_proto::profile::v1::{WatchRequest, profile_service_client::ProfileServiceClient};

use crate::engine::{Engine, ProfileEvents};

/// Pause between reachability probes of profile.
const PROBE_EVERY: Duration = Duration::from_secs(10);

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
    let channel = match lazy_channel(&url) {
        Ok(channel) => channel,
        Err(error) => {
            tracing::warn!(%error, url, "profile URL unusable; not following its events");
            return;
        }
    };
    let minter = engine.runtime.minter.clone();
    let consumer = Consumer::new("assignment<-profile", engine.runtime.db.clone());
    let handler = Arc::new(ProfileEvents { engine });
    let connect = move |from_sequence: u64| {
        let (channel, minter) = (channel.clone(), minter.clone());
        async move {
            let token = minter.service_token("assignment", ALL_CHAINS)?;
            let mut client = ProfileServiceClient::new(channel);
            let stream = client
                .watch(outgoing(WatchRequest { from_sequence }, &token))
                .await?
                .into_inner();
            Ok::<_, ConsumeError>(stream)
        }
    };
    tracing::info!(url, "following profile's events");
    consumer.run(connect, handler, shutdown).await;
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
