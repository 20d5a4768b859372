//! Following another service's log: open its `Watch` with this service's own identity and
//! apply every event through a [`Consumer`], reconnecting by itself.

use std::{future::Future, sync::Arc};

use maitre_proto::{assignment, events::v1::Event, notification, profile, tagging};
use tonic::{Status, codec::Streaming, transport::Channel};

use super::{ConsumeError, Consumer, EventHandler};
use crate::{auth::ALL_CHAINS, client::outgoing, config::ServiceName, runtime::Runtime};

/// Opens `Watch(from_sequence)` on `upstream` over `channel` with `token`.
pub async fn open_watch(
    channel: Channel,
    upstream: ServiceName,
    from_sequence: u64,
    token: &str,
) -> Result<Streaming<Event>, Status> {
    let response = match upstream {
        ServiceName::Profile => {
            let request = outgoing(profile::v1::WatchRequest { from_sequence }, token);
            profile::v1::profile_service_client::ProfileServiceClient::new(channel)
                .watch(request)
                .await?
        }
        ServiceName::Assignment => {
            let request = outgoing(assignment::v1::WatchRequest { from_sequence }, token);
            assignment::v1::assignment_service_client::AssignmentServiceClient::new(channel)
                .watch(request)
                .await?
        }
        ServiceName::Tagging => {
            let request = outgoing(tagging::v1::WatchRequest { from_sequence }, token);
            tagging::v1::tagging_service_client::TaggingServiceClient::new(channel)
                .watch(request)
                .await?
        }
        ServiceName::Notification => {
            let request = outgoing(notification::v1::WatchRequest { from_sequence }, token);
            notification::v1::notification_service_client::NotificationServiceClient::new(channel)
                .watch(request)
                .await?
        }
        ServiceName::Gateway => {
            return Err(Status::invalid_argument("the gateway has no event log"));
        }
    };
    Ok(response.into_inner())
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
            Ok::<_, ConsumeError>(open_watch(channel, upstream, from_sequence, &token).await?)
        }
    };
    Consumer::new(consumer_name, runtime.db.clone())
        .run(connect, handler, shutdown)
        .await;
}
