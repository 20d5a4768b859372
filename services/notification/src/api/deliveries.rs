//! Delivery RPCs: a manager's own send (idempotent: `request_id` is the de-duplication key), listing
//! and reading deliveries with their history, and providers' status callbacks (domain::status).

use std::collections::BTreeMap;

use chrono::Utc;
use maitre_kit::auth::{Caller, Role};
use maitre_kit::page::{PageRequest, next_token};
use maitre_proto::events::v1::MessageStatus;
use maitre_proto::events::v1::{EventScope, MessageOpened, event::Payload};
use maitre_proto::notification::v1::{
    Delivery, GetDeliveryRequest, GetDeliveryResponse, ListDeliveriesRequest,
    ListDeliveriesResponse, RecordMessageOpenedRequest, RecordMessageOpenedResponse,
    ReportDeliveryStatusRequest, ReportDeliveryStatusResponse, SendMessageRequest,
    SendMessageResponse, StatusChange,
};
use sea_orm::ConnectionTrait;
use tonic::{Request, Response, Status};

use super::NotificationServiceApi;
use super::templates::compile;
use crate::convert::{
    channel_from_proto, channel_to_proto, purpose_from_proto, purpose_to_proto, status_filter,
    status_to_proto, timestamp_from_us, timestamp_to_utc,
};
use crate::domain::channel::Channel;
use crate::domain::status::{
    DeliveryEvent, DeliveryStatus, StatusChange as Change, apply_delivery_event,
};
use crate::domain::template_vars::TemplateVariable;
use crate::error::{Error, Result};
use crate::storage::messages::{self, MessageRow, NewMessage, RowUpdate};

/// Roles that may message a guest directly.
const SENDERS: &[Role] = &[
    Role::HqAdmin,
    Role::StoreManager,
    Role::CustomerManager,
    Role::Service,
];

/// The delivery of a stored message with its history.
pub(crate) async fn delivery(conn: &impl ConnectionTrait, row: &MessageRow) -> Result<Delivery> {
    let history = messages::history(conn, &row.chain_id, &row.message_id).await?;
    Ok(Delivery {
        message_id: row.message_id.clone(),
        customer_id: row.customer_id.clone(),
        staff_id: row.staff_id.clone(),
        channel: channel_to_proto(row.channel) as i32,
        template_id: row.template_id.clone(),
        subject: row.subject.clone(),
        body: row.body.clone(),
        status: status_to_proto(&row.status) as i32,
        history: history
            .iter()
            .filter(|h| h.status != "sending")
            .map(|h| StatusChange {
                status: status_to_proto(&h.status) as i32,
                reason: h.reason.clone(),
                change_time: Some(timestamp_from_us(h.change_time_us)),
            })
            .collect(),
        campaign_id: row.campaign_id.clone(),
        automation_id: row.automation_id.clone(),
        dedup_key: row.dedup_key.clone(),
        attempts: row.attempts,
        next_attempt_at: Some(timestamp_from_us(row.next_attempt_at_us)),
        purpose: purpose_to_proto(row.purpose) as i32,
        opened_at: messages::opened_at(conn, &row.chain_id, &row.message_id)
            .await?
            .map(timestamp_from_us),
    })
}

/// Statuses of a message a provider was handed, which a guest can therefore have opened.
const OPENABLE: &[&str] = &["sent", "delivered", "responded", "unknown"];

/// How far ahead of this clock a callback's open time may be (the caller's clock may run fast).
const OPEN_CLOCK_SKEW_US: i64 = 60_000_000;

fn domain_status(stored: &str) -> Option<DeliveryStatus> {
    match stored {
        "queued" => Some(DeliveryStatus::Queued),
        "sending" => Some(DeliveryStatus::Sending),
        // A report for a message whose send outcome was unknown proves the provider had it.
        "sent" | "unknown" => Some(DeliveryStatus::Sent),
        // A response implies delivery.
        "delivered" | "responded" => Some(DeliveryStatus::Delivered),
        "failed" => Some(DeliveryStatus::Failed),
        "dead" => Some(DeliveryStatus::Dead),
        _ => None,
    }
}

impl NotificationServiceApi {
    pub(super) async fn send_message_rpc(
        &self,
        request: Request<SendMessageRequest>,
    ) -> Result<Response<SendMessageResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        caller.require_role(SENDERS)?;
        let chain = caller.chain()?.to_owned();
        let request = request.into_inner();
        if request.request_id.trim().is_empty() {
            return Err(
                Error::invalid("request_id", "is required: it is the de-duplication key").into(),
            );
        }
        let dedup_key = format!("send:{}", request.request_id);
        let db = &self.runtime.db;
        if let Some(existing) = messages::get_by_dedup_key(db, &chain, &dedup_key).await? {
            return Ok(Response::new(SendMessageResponse {
                delivery: Some(delivery(db, &existing).await?),
            }));
        }
        if request.customer_id.trim().is_empty() {
            return Err(Error::invalid("customer_id", "must not be empty").into());
        }
        let channel = channel_from_proto("channel", request.channel)?;
        if channel == Channel::StaffInbox {
            return Err(Error::invalid("channel", "the staff inbox cannot message a guest").into());
        }
        let template = self
            .template(&chain, &request.template_id)
            .await
            .map_err(|_| Error::invalid("template_id", "no such template in the chain"))?;
        if template.channel != channel {
            return Err(Error::invalid(
                "template_id",
                format!(
                    "template is for {}, message is for {channel}",
                    template.channel
                ),
            )
            .into());
        }
        let purpose = if request.purpose == 0 {
            template.purpose
        } else {
            purpose_from_proto("purpose", request.purpose, channel)?
        };
        let mut variables = BTreeMap::new();
        for (path, value) in &request.variables {
            TemplateVariable::from_path(path)
                .ok_or_else(|| Error::invalid(format!("variables[{path}]"), "unknown variable"))?;
            variables.insert(path.clone(), value.clone());
        }
        // The guest's own values (name, salutation, favourites, home store) are filled at
        // render; a value the caller gives overrides them.
        let customer_id = request.customer_id.trim();
        let guest = self
            .guest_named(&caller, &chain, "customer_id", customer_id)
            .await?
            .template_values();
        self.require_guest_writer(&caller, &chain, customer_id)
            .await?;
        let compiled = compile(&template)?;
        if let Some(missing) = compiled.required_variables().into_iter().find(|v| {
            guest.get(*v).is_none() && variables.get(v.path()).is_none_or(|value| value.is_empty())
        }) {
            return Err(Error::invalid(
                format!("variables[{}]", missing.path()),
                "required by the template (no default)",
            )
            .into());
        }
        let now_us = Utc::now().timestamp_micros();
        let message = NewMessage {
            message_id: uuid::Uuid::now_v7().to_string(),
            customer_id: request.customer_id.trim().to_owned(),
            staff_id: caller.staff_id.clone(),
            channel,
            purpose,
            template_id: template.template_id.clone(),
            variables,
            campaign_id: String::new(),
            automation_id: String::new(),
            dedup_key: dedup_key.clone(),
            next_attempt_at_us: now_us,
        };
        // A racing replay loses on the UNIQUE key and reads the winner's row.
        crate::app::delivery::enqueue(db, &chain, &message, now_us).await?;
        self.state.enqueued();
        let stored = messages::get_by_dedup_key(db, &chain, &dedup_key)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "message",
                id: dedup_key,
            })?;
        Ok(Response::new(SendMessageResponse {
            delivery: Some(delivery(db, &stored).await?),
        }))
    }

    pub(super) async fn list_deliveries_rpc(
        &self,
        request: Request<ListDeliveriesRequest>,
    ) -> Result<Response<ListDeliveriesResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        let chain = caller.chain()?;
        let request = request.get_ref();
        let page = PageRequest::parse(request.page_size, &request.page_token, 500)?;
        let status = MessageStatus::try_from(request.status)
            .map_err(|_| Error::invalid("status", "unknown message status"))?;
        let filter = messages::ListFilter {
            customer_id: &request.customer_id,
            campaign_id: &request.campaign_id,
            statuses: status_filter(status),
        };
        let db = &self.runtime.db;
        let rows = messages::list(db, chain, &filter, &page.after, page.size + 1).await?;
        let more = rows.len() as u64 > page.size;
        let mut deliveries = Vec::new();
        for row in rows.iter().take(page.size as usize) {
            deliveries.push(delivery(db, row).await?);
        }
        let next_page_token = match deliveries.last() {
            Some(last) if more => next_token(&last.message_id),
            _ => String::new(),
        };
        Ok(Response::new(ListDeliveriesResponse {
            deliveries,
            next_page_token,
        }))
    }

    /// The chain's message or NOT_FOUND.
    async fn message(&self, chain: &str, message_id: &str) -> Result<MessageRow> {
        messages::get(&self.runtime.db, chain, message_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "message",
                id: message_id.to_owned(),
            })
    }

    pub(super) async fn get_delivery_rpc(
        &self,
        request: Request<GetDeliveryRequest>,
    ) -> Result<Response<GetDeliveryResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        let chain = caller.chain()?;
        let row = self.message(chain, &request.get_ref().message_id).await?;
        Ok(Response::new(GetDeliveryResponse {
            delivery: Some(delivery(&self.runtime.db, &row).await?),
        }))
    }

    pub(super) async fn report_delivery_status_rpc(
        &self,
        request: Request<ReportDeliveryStatusRequest>,
    ) -> Result<Response<ReportDeliveryStatusResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        caller.require_role(&[Role::HqAdmin, Role::Service])?;
        let chain = caller.chain()?.to_owned();
        let request = request.into_inner();
        let event = match MessageStatus::try_from(request.status) {
            Ok(MessageStatus::Delivered) => DeliveryEvent::CallbackDelivered,
            Ok(MessageStatus::Failed) => DeliveryEvent::CallbackFailed,
            _ => return Err(Error::invalid("status", "must be DELIVERED or FAILED").into()),
        };
        let row = self.message(&chain, &request.message_id).await?;
        self.apply_delivery_report(&row, event, &request.reason, &request.provider_message_id)
            .await?;
        let row = self.message(&chain, &request.message_id).await?;
        Ok(Response::new(ReportDeliveryStatusResponse {
            delivery: Some(delivery(&self.runtime.db, &row).await?),
        }))
    }

    /// A provider's report on `row` (`ReportDeliveryStatus`, and the providers' own callbacks,
    /// `api::callbacks`): the status machine's move, stored with its history and event; a repeat
    /// or stale report changes nothing (`Ok(false)`); a report the message's status cannot take
    /// is FAILED_PRECONDITION.
    pub(super) async fn apply_delivery_report(
        &self,
        row: &MessageRow,
        event: DeliveryEvent,
        reason: &str,
        provider_message_id: &str,
    ) -> Result<bool> {
        let from = domain_status(&row.status).ok_or_else(|| Error::Precondition {
            field: "message_id",
            message: format!("a {} message has no delivery to report", row.status),
        })?;
        let change = apply_delivery_event(from, event).map_err(|e| Error::Precondition {
            field: "status",
            message: e.to_string(),
        })?;
        let Change::Moved { to, .. } = change else {
            return Ok(false);
        };
        let update = RowUpdate {
            provider_message_id: Some(provider_message_id.to_owned()).filter(|id| !id.is_empty()),
            ..RowUpdate::default()
        };
        crate::app::delivery::transition(
            &self.state,
            row,
            Some(&row.status),
            to.as_str(),
            reason,
            &update,
            Utc::now().timestamp_micros(),
        )
        .await
    }

    /// Stores the first open of `row` and announces it in one transaction; `false` when it was
    /// opened before (nothing changes).
    async fn record_open(&self, row: &MessageRow, opened_at_us: i64) -> Result<bool> {
        let txn = maitre_kit::db::begin_write(&self.runtime.db).await?;
        let first_open =
            messages::record_open(&txn, &row.chain_id, &row.message_id, opened_at_us).await?;
        if !first_open {
            txn.rollback().await?;
            return Ok(false);
        }
        let scope = EventScope {
            customer_id: row.customer_id.clone(),
            store_id: String::new(),
            manager_id: String::new(),
        };
        let payload = Payload::MessageOpened(MessageOpened {
            message_id: row.message_id.clone(),
            customer_id: row.customer_id.clone(),
            campaign_id: row.campaign_id.clone(),
            automation_id: row.automation_id.clone(),
            channel: channel_to_proto(row.channel) as i32,
            opened_at: Some(timestamp_from_us(opened_at_us)),
        });
        self.state
            .events
            .append(&txn, &row.chain_id, scope, payload)
            .await?;
        txn.commit().await?;
        self.state.events.committed();
        Ok(true)
    }

    /// An open callback: the guest's first open of a message is stored on it and announced
    /// (`MessageOpened`, in the same transaction), so tagging counts it once; a repeat answers
    /// the first open and changes nothing.
    pub(super) async fn record_message_opened_rpc(
        &self,
        request: Request<RecordMessageOpenedRequest>,
    ) -> Result<Response<RecordMessageOpenedResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        caller.require_role(&[Role::HqAdmin, Role::Service])?;
        let chain = caller.chain()?.to_owned();
        let request = request.into_inner();
        if request.message_id.trim().is_empty() {
            return Err(Error::invalid("message_id", "is required").into());
        }
        let row = self.message(&chain, &request.message_id).await?;
        if row.customer_id.is_empty() {
            return Err(Error::Precondition {
                field: "message_id",
                message: "a staff message has no guest to open it".into(),
            }
            .into());
        }
        if !OPENABLE.contains(&row.status.as_str()) {
            return Err(Error::Precondition {
                field: "message_id",
                message: format!(
                    "a {} message never reached a provider, so it cannot be opened",
                    row.status
                ),
            }
            .into());
        }
        let now_us = Utc::now().timestamp_micros();
        let opened_at_us = match &request.opened_at {
            None => now_us,
            Some(at) => {
                let at = timestamp_to_utc(at)
                    .ok_or_else(|| Error::invalid("opened_at", "is not a valid time"))?
                    .timestamp_micros();
                if at < row.created_at_us || at > now_us + OPEN_CLOCK_SKEW_US {
                    return Err(Error::invalid(
                        "opened_at",
                        "must lie between the message's creation and now",
                    )
                    .into());
                }
                at
            }
        };
        let first_open = self.record_open(&row, opened_at_us).await?;
        let row = self.message(&chain, &request.message_id).await?;
        Ok(Response::new(RecordMessageOpenedResponse {
            delivery: Some(delivery(&self.runtime.db, &row).await?),
            first_open,
        }))
    }
}
