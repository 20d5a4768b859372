//! What assignment consumes: profile's event log (contacts, merges, erasures, store time
//! zones), followed with `kit::eventlog::follow`, the cursor committed with each run's
//! effects ([`ProfileEvents`]). What it emits (owner changes, locks) is written with each
//! change, in `app::write`. Started only once
//! profile (`MAITRE_PROFILE_URL`) is reachable: the probe repeats quietly until then, so a
//! service started alone (tests, embedded tools) makes no failing calls.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use maitre_kit::config::ServiceName;
use maitre_kit::eventlog::{ConsumeError, EventHandler, follow};
use maitre_proto::events::v1::{ContactRecorded, Event, event::Payload};
use sea_orm::DatabaseTransaction;

use crate::app::Allocated;
use crate::app::Engine;
use crate::error::Error;
use crate::storage::cache;

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

/// The handler of profile's `Watch` stream.
pub struct ProfileEvents {
    pub engine: Arc<Engine>,
}

impl ProfileEvents {
    /// Applies one event that is not a contact (or a contact alone); the customers touched.
    async fn apply(
        &self,
        txn: &DatabaseTransaction,
        event: &Event,
        picks: &mut Vec<Allocated>,
    ) -> Result<Vec<String>, Error> {
        let chain_id = event.chain_id.as_str();
        Ok(match &event.payload {
            Some(Payload::ContactRecorded(contact)) => {
                self.engine
                    .apply_recorded_contact(txn, chain_id, contact, picks)
                    .await?
            }
            Some(Payload::CustomerMerged(merged)) => {
                self.engine.apply_merge(txn, chain_id, merged).await?
            }
            Some(Payload::CustomerErased(erased)) => {
                self.engine.apply_erasure(txn, chain_id, erased).await?
            }
            Some(Payload::StoreChanged(store)) => {
                self.engine.apply_store(txn, chain_id, store).await?;
                Vec::new()
            }
            _ => Vec::new(),
        })
    }

    /// The handler cannot see its commit: drop cached rows now and once more shortly after,
    /// so a reader that refilled the cache before the commit does not keep it.
    async fn forget_owners(&self, touched: Vec<(String, String)>) {
        self.engine.runtime.events.committed();
        if touched.is_empty() {
            return;
        }
        let coord = self.engine.runtime.coord.clone();
        let forget_all = |coord: std::sync::Arc<dyn maitre_kit::coord::Coordination>,
                          touched: std::sync::Arc<Vec<(String, String)>>| async move {
            let forgets = touched.iter().map(|(chain_id, customer_id)| {
                cache::forget_owner(coord.as_ref(), chain_id, customer_id)
            });
            futures::future::join_all(forgets).await;
        };
        let touched = Arc::new(touched);
        forget_all(coord.clone(), touched.clone()).await;
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            forget_all(coord, touched).await;
        });
    }
}

#[async_trait::async_trait]
impl EventHandler for ProfileEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> Result<(), ConsumeError> {
        let mut picks = Vec::new();
        let applied = self.apply(txn, event, &mut picks).await;
        let touched = self.engine.counted_back_unless_ok(applied, &picks).await?;
        let chain_id = &event.chain_id;
        self.forget_owners(touched.into_iter().map(|c| (chain_id.clone(), c)).collect())
            .await;
        Ok(())
    }

    /// Consecutive contacts are applied together (`Engine::apply_contact_run`: set-based
    /// recording, each decision in stream order); any other event alone, in its place.
    async fn handle_run(
        &self,
        txn: &DatabaseTransaction,
        events: &[&Event],
    ) -> Result<(), ConsumeError> {
        let mut picks = Vec::new();
        let applied = self.apply_run(txn, events, &mut picks).await;
        let touched = self.engine.counted_back_unless_ok(applied, &picks).await?;
        self.forget_owners(touched).await;
        Ok(())
    }
}

impl ProfileEvents {
    /// The events of one run in `txn`; the `(chain_id, customer_id)` whose rows changed.
    async fn apply_run(
        &self,
        txn: &DatabaseTransaction,
        events: &[&Event],
        picks: &mut Vec<Allocated>,
    ) -> Result<Vec<(String, String)>, Error> {
        let mut touched: Vec<(String, String)> = Vec::new();
        let mut contacts: Vec<(&str, &ContactRecorded)> = Vec::new();
        for event in events {
            if let Some(Payload::ContactRecorded(contact)) = &event.payload {
                contacts.push((event.chain_id.as_str(), contact));
                continue;
            }
            touched.extend(self.engine.apply_contact_run(txn, &contacts, picks).await?);
            contacts.clear();
            let changed = self.apply(txn, event, picks).await?;
            touched.extend(changed.into_iter().map(|c| (event.chain_id.clone(), c)));
        }
        touched.extend(self.engine.apply_contact_run(txn, &contacts, picks).await?);
        Ok(touched)
    }
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
