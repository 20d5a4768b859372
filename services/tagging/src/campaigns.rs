//! What the service consumes from notification's `Watch` stream: campaign messages'
//! status changes (SENT, RESPONDED) become `tag_campaign_send` rows, and the guest's
//! smoothed response rate and `high_responder` tag follow under the chain's stored prior,
//! in the consumer's transaction (the cursor commits with the effect).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use maitre_kit::{
    config::ServiceName,
    eventlog::{ConsumeError, EventHandler},
};
use maitre_proto::events::v1::{Event, MessageStatus, event::Payload};
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use crate::{
    engine::{evaluate::today_at, rates::refresh_response_rate},
    error::Result,
    state::Deps,
    storage::campaigns::{SendRow, record_response, record_send},
};

/// The consumer's name (its cursor row).
pub const NOTIFICATION_CONSUMER: &str = "tagging<-notification";

/// Applies one notification event.
pub async fn apply_notification_event(
    conn: &impl ConnectionTrait,
    deps: &Deps,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(Payload::MessageStatusChanged(e)) = &event.payload else {
        return Ok(());
    };
    if e.campaign_id.is_empty() || e.customer_id.is_empty() {
        return Ok(());
    }
    let at = event
        .occurred_at
        .as_ref()
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        .unwrap_or(now);
    let send = SendRow {
        customer_id: e.customer_id.clone(),
        campaign_id: e.campaign_id.clone(),
        sent_day: today_at(at),
        responded: false,
    };
    let chain = event.chain_id.as_str();
    match MessageStatus::try_from(e.status) {
        Ok(MessageStatus::Sent) => record_send(conn, chain, &e.message_id, &send).await?,
        Ok(MessageStatus::Responded) => record_response(conn, chain, &e.message_id, &send).await?,
        _ => return Ok(()),
    }
    refresh_response_rate(conn, deps, chain, &e.customer_id, now).await
}

/// The consumer's handler.
pub struct NotificationEvents {
    pub deps: Arc<Deps>,
}

#[async_trait::async_trait]
impl EventHandler for NotificationEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> Result<(), ConsumeError> {
        apply_notification_event(txn, &self.deps, event, Utc::now()).await?;
        Ok(())
    }
}

/// Follows notification's `Watch` until `shutdown`, reconnecting by itself.
pub async fn consume_notification(
    deps: Arc<Deps>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let runtime = deps.runtime.clone();
    let handler = Arc::new(NotificationEvents { deps });
    maitre_kit::eventlog::follow(
        &runtime,
        NOTIFICATION_CONSUMER,
        ServiceName::Notification,
        handler,
        shutdown,
    )
    .await;
}
