//! Who owns a customer after a contact — the fast answer only: the profile service asks
//! assignment (`AssignOnContact`) after each contact recorded one at a time and returns the
//! answer with the event.
//!
//! The answer is not what makes the contact count. Every recorded contact (one at a time or
//! in a batch) is also emitted as `ContactRecorded`, which assignment consumes from this
//! service's event log and applies through the same decision, keyed by the event id: a
//! contact whose call failed, timed out or was never made (imports, re-sends answered as
//! duplicates) still reaches ownership, once.
//!
//! Behind [`OwnerDecider`] so tests use a fake. If assignment is unreachable or answers
//! UNIMPLEMENTED the event stays recorded and the owner is reported unknown until the
//! stream brings assignment's decision back (`OwnerChanged`).

use std::sync::Arc;

use maitre_kit::client::{lazy_channel, outgoing};
use maitre_proto::{
    assignment::v1::{AssignOnContactRequest, assignment_service_client::AssignmentServiceClient},
    profile::v1::OwnerSummary,
};
use tonic::transport::Channel;

/// How long a recorded contact waits for assignment's answer before reporting the owner
/// unknown (the event is recorded either way, and assignment decides from the stream).
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(3);

/// The contact assignment is asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactForOwner {
    pub customer_id: String,
    pub store_id: String,
    pub contact_manager_id: String,
    pub amount_fen: i64,
    pub occurred_at_us: i64,
    pub source_event_id: String,
    /// The latest `occurred_at` (µs) of the customer's other recorded contacts: a contact
    /// older than it moves no owner, though assignment's stream may not have brought it yet.
    pub latest_other_contact_us: Option<i64>,
}

/// Decides (or reports) the owner of a customer after a contact.
#[async_trait::async_trait]
pub trait OwnerDecider: Send + Sync + 'static {
    /// The owner after `contact`; `known = false` when it could not be learned.
    async fn owner_after_contact(&self, contact: &ContactForOwner, token: &str) -> OwnerSummary;
}

/// The owner when assignment could not answer.
pub fn unknown_owner() -> OwnerSummary {
    OwnerSummary {
        manager_id: String::new(),
        locked: false,
        reason: String::new(),
        known: false,
    }
}

/// Asks the assignment service over gRPC, forwarding the caller's token.
pub struct GrpcOwnerDecider {
    client: Option<AssignmentServiceClient<Channel>>,
}

impl GrpcOwnerDecider {
    /// A decider calling assignment at `url` (connected lazily; a bad URL means "unknown").
    pub fn new(url: &str) -> Arc<Self> {
        let client = match lazy_channel(url) {
            Ok(channel) => Some(AssignmentServiceClient::new(channel)),
            Err(e) => {
                tracing::warn!(error = %e, url, "assignment URL unusable; owners will be unknown");
                None
            }
        };
        Arc::new(Self { client })
    }
}

#[async_trait::async_trait]
impl OwnerDecider for GrpcOwnerDecider {
    async fn owner_after_contact(&self, contact: &ContactForOwner, token: &str) -> OwnerSummary {
        let Some(client) = &self.client else {
            return unknown_owner();
        };
        let request = AssignOnContactRequest {
            customer_id: contact.customer_id.clone(),
            store_id: contact.store_id.clone(),
            contact_manager_id: contact.contact_manager_id.clone(),
            amount_fen: contact.amount_fen,
            occurred_at: Some(crate::convert::timestamp_us(contact.occurred_at_us)),
            source_event_id: contact.source_event_id.clone(),
            latest_other_contact_time: contact
                .latest_other_contact_us
                .map(crate::convert::timestamp_us),
        };
        let mut client = client.clone();
        let call = client.assign_on_contact(outgoing(request, token));
        // The front desk waits for this answer: a slow assignment must not hold it long.
        let Ok(answer) = tokio::time::timeout(ANSWER_WITHIN, call).await else {
            tracing::warn!("assignment did not answer AssignOnContact in time");
            return unknown_owner();
        };
        match answer {
            Ok(response) => match response.into_inner().ownership {
                Some(o) => OwnerSummary {
                    manager_id: o.manager_id,
                    locked: o.locked,
                    reason: maitre_proto::assignment::v1::Reason::try_from(o.reason)
                        .map(|r| {
                            r.as_str_name()
                                .trim_start_matches("REASON_")
                                .to_ascii_lowercase()
                        })
                        .unwrap_or_default(),
                    known: true,
                },
                None => unknown_owner(),
            },
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = status.message(), "assignment did not answer AssignOnContact");
                unknown_owner()
            }
        }
    }
}
