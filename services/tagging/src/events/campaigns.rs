//! What the service consumes from notification's `Watch` stream: campaign messages'
//! status changes (SENT, RESPONDED) become `tag_campaign_send` rows, and the guest's
//! smoothed response rate and `high_responder` tag follow under the chain's stored prior;
//! a RESPONDED message is an interaction fact (`campaign_responses`, `messages_replied`)
//! and re-evaluates the guest's rule tags, as does a `MessageOpened` (`messages_opened`, once
//! per message). All in the consumer's transaction (the cursor commits with the effect).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use maitre_kit::{
    config::ServiceName,
    eventlog::{ConsumeError, EventHandler},
};
use maitre_proto::events::v1::{
    Event, MessageOpened, MessageStatus, MessageStatusChanged, event::Payload,
};
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use crate::{
    app::{
        live::reevaluate_customer,
        rates::refresh_response_rate,
        zones::{customer_today, today_at},
    },
    domain::rule::InteractionKind,
    error::Result,
    state::Deps,
    storage::{
        campaigns::{SendRow, record_response, record_send},
        facts::lock_customer_erased,
        interactions::{campaign_response_occurrence, record_interaction},
    },
};

/// The consumer's name (its cursor row).
pub const NOTIFICATION_CONSUMER: &str = "tagging<-notification";

/// Who replied to messages: `MessageStatusChanged` to RESPONDED carries this reason when a
/// guest's reply (notification's `RecordInboundReply`) was the response.
const REASON_INBOUND_REPLY: &str = "inbound_reply";

/// Applies one notification event.
pub async fn apply_notification_event(
    conn: &impl ConnectionTrait,
    deps: &Deps,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<()> {
    let e = match &event.payload {
        Some(Payload::MessageStatusChanged(e)) => e,
        Some(Payload::MessageOpened(opened)) => {
            return apply_open(conn, deps, event, opened, now).await;
        }
        _ => return Ok(()),
    };
    if e.customer_id.is_empty() {
        return Ok(());
    }
    let at = event
        .occurred_at
        .as_ref()
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        .unwrap_or(now);
    let chain = event.chain_id.as_str();
    let status = MessageStatus::try_from(e.status);
    let responded = status == Ok(MessageStatus::Responded);
    if responded && !lock_customer_erased(conn, chain, &e.customer_id).await? {
        record_response_interactions(conn, chain, e, at).await?;
    }
    if !e.campaign_id.is_empty() {
        let send = SendRow {
            customer_id: e.customer_id.clone(),
            campaign_id: e.campaign_id.clone(),
            sent_day: today_at(at),
            responded: false,
        };
        match status {
            Ok(MessageStatus::Sent) => record_send(conn, chain, &e.message_id, &send).await?,
            Ok(MessageStatus::Responded) => {
                record_response(conn, chain, &e.message_id, &send).await?
            }
            _ => return Ok(()),
        }
        refresh_response_rate(conn, deps, chain, &e.customer_id, now).await?;
    }
    if responded {
        // The interaction facts changed: rules such as `campaign_responses(90d) >= 1` move now.
        reevaluate_customer(conn, deps, chain, &e.customer_id, now).await?;
    }
    Ok(())
}

/// A guest's first open of a message is an interaction (`messages_opened`), dated the day the
/// guest opened it in their store's zone; a replay of the event is the same occurrence.
async fn apply_open(
    conn: &impl ConnectionTrait,
    deps: &Deps,
    event: &Event,
    opened: &MessageOpened,
    now: DateTime<Utc>,
) -> Result<()> {
    let chain = event.chain_id.as_str();
    if opened.customer_id.is_empty()
        || lock_customer_erased(conn, chain, &opened.customer_id).await?
    {
        return Ok(());
    }
    let at = opened
        .opened_at
        .as_ref()
        .or(event.occurred_at.as_ref())
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        .unwrap_or(now);
    let day = customer_today(conn, chain, &opened.customer_id, at).await?;
    record_interaction(
        conn,
        chain,
        &opened.customer_id,
        InteractionKind::MessageOpen,
        &format!("open:{}", opened.message_id),
        day,
    )
    .await?;
    reevaluate_customer(conn, deps, chain, &opened.customer_id, now).await?;
    Ok(())
}

/// A message moved to RESPONDED is an interaction: a response to its campaign (one per
/// campaign, whichever route told of it first) and, when the guest replied, a reply.
async fn record_response_interactions(
    conn: &impl ConnectionTrait,
    chain: &str,
    e: &MessageStatusChanged,
    at: DateTime<Utc>,
) -> Result<()> {
    let day = customer_today(conn, chain, &e.customer_id, at).await?;
    if !e.campaign_id.is_empty() {
        record_interaction(
            conn,
            chain,
            &e.customer_id,
            InteractionKind::CampaignResponse,
            &campaign_response_occurrence(&e.campaign_id, &e.message_id),
            day,
        )
        .await?;
    }
    if e.reason == REASON_INBOUND_REPLY {
        record_interaction(
            conn,
            chain,
            &e.customer_id,
            InteractionKind::MessageReply,
            &format!("message:{}", e.message_id),
            day,
        )
        .await?;
    }
    Ok(())
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
