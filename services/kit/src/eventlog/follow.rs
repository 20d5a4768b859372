//! Following another service's log: open its `Watch` (the one `EventLogService` every
//! service serves) with this service's own identity and apply every event through a
//! [`Consumer`], reconnecting by itself. Replicas share the work by partition under fenced
//! leases ([`super::partition`]). Each follower also reports its lag as metrics.

use std::{future::Future, sync::Arc, time::Duration};

use maitre_proto::events::v1::{
    Event, WatchRequest, event_log_service_client::EventLogServiceClient,
};
use tonic::{Status, codec::Streaming, transport::Channel};

use super::{
    ConsumeError, Consumer, EventHandler, LeaseTiming, PartitionedConsumer, upstream_head,
};
use crate::{auth::ALL_CHAINS, client::outgoing, config::ServiceName, runtime::Runtime};

/// How often a follower reports its lag (cursor, upstream head, oldest pending event).
const LAG_REPORT_EVERY: Duration = Duration::from_secs(15);

/// Opens `Watch(from_sequence)` on the service behind `channel` with `token`.
pub async fn open_watch(
    channel: Channel,
    from_sequence: u64,
    token: &str,
) -> Result<Streaming<Event>, Status> {
    let request = outgoing(WatchRequest { from_sequence }, token);
    Ok(EventLogServiceClient::new(channel)
        .watch(request)
        .await?
        .into_inner())
}

/// Applies every event of `upstream`'s log with `handler` under the cursor `consumer_name`
/// until `shutdown`; returns at once (logging why) when the upstream URL is unusable.
pub async fn follow(
    runtime: &Runtime,
    consumer_name: &str,
    upstream: ServiceName,
    handler: Arc<dyn EventHandler>,
    shutdown: impl Future<Output = ()>,
) {
    let url = runtime.config.upstream(upstream).to_owned();
    if url == crate::config::DISABLED_UPSTREAM {
        tracing::info!(
            consumer = consumer_name,
            upstream = upstream.as_str(),
            "upstream not deployed; not following"
        );
        return;
    }
    runtime.consumers.register(consumer_name, upstream);
    let channel = match crate::client::lazy_channel(&url) {
        Ok(channel) => channel,
        Err(e) => {
            tracing::error!(%url, error = %e, consumer = consumer_name, "upstream URL unusable; not following");
            return;
        }
    };
    let minter = runtime.minter.clone();
    let me = runtime.config.service.as_str();
    let connect = move |from_sequence: u64| {
        let channel = channel.clone();
        let token = minter.service_token(me, ALL_CHAINS);
        async move {
            let token = token.map_err(|e| -> ConsumeError { Box::new(e) })?;
            Ok::<_, ConsumeError>(open_watch(channel, from_sequence, &token).await?)
        }
    };
    let consumer = Consumer::new(consumer_name, runtime.db.clone());
    let reporter = report_lag(runtime.clone(), consumer.clone(), consumer_name, upstream);
    // The embedded backend is one process: one partition, nobody to share it with, so no
    // lease either (renewing one would write to the database every few seconds at idle).
    if !crate::db::is_postgres(&runtime.db) {
        tokio::select! {
            _ = consumer.run(connect, handler, shutdown) => {}
            _ = reporter => {}
        }
        return;
    }
    let partitions = runtime.config.event_partitions;
    // Unique per process: a restarted replica must not pass for its predecessor, whose
    // runs in flight its fence has to refuse.
    let replica = match runtime.config.replica_id.as_str() {
        "" => me,
        named => named,
    };
    let holder = format!(
        "{replica}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let shared = PartitionedConsumer::new(
        consumer_name,
        runtime.db.clone(),
        partitions,
        holder,
        LeaseTiming::default(),
    );
    tokio::select! {
        _ = shared.run(connect, handler, shutdown) => {}
        _ = reporter => {}
    }
}

/// Sets the follower's lag gauges every [`LAG_REPORT_EVERY`] (never returns).
async fn report_lag(runtime: Runtime, consumer: Consumer, name: &str, upstream: ServiceName) {
    let labels = [("consumer", name.to_owned())];
    loop {
        tokio::time::sleep(LAG_REPORT_EVERY).await;
        let Ok(cursor) = consumer.cursor().await else {
            continue;
        };
        metrics::gauge!("maitre_consumer_cursor", &labels).set(cursor as f64);
        let head = upstream_head(&runtime.config, &runtime.minter, upstream, cursor, None).await;
        let Ok(head) = head else {
            metrics::counter!("maitre_consumer_lag_report_failures_total", &labels).increment(1);
            continue;
        };
        metrics::gauge!("maitre_consumer_upstream_head", &labels).set(head.head_sequence as f64);
        metrics::gauge!("maitre_consumer_pending_events", &labels).set(head.pending_events as f64);
        let age = head.oldest_pending_time.map_or(0.0, |t| {
            let at = t.seconds as f64 + f64::from(t.nanos) / 1e9;
            (chrono::Utc::now().timestamp_micros() as f64 / 1e6 - at).max(0.0)
        });
        metrics::gauge!("maitre_consumer_oldest_pending_age_seconds", &labels).set(age);
    }
}
