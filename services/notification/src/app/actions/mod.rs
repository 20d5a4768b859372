//! Automation actions that call other systems — create a follow-up plan in profile, call a webhook.
//! They are never performed inside the consumer's database transaction: [`enqueue`] writes them to the
//! `notif_actions` queue in that transaction (one per occurrence key), and the [`worker`] performs them
//! after the commit with the message dispatcher's retry policy (backoff with full jitter, dead letters
//! with the reason). The targets sit behind the traits of [`targets`] so tests use fakes.

pub mod enqueue;
pub mod targets;
pub mod worker;

use serde::{Deserialize, Serialize};

pub use enqueue::{enqueue_follow_up, enqueue_webhook, occurrence_json};
pub use targets::{FollowUpPlans, ProfileFollowUpPlans, SignedWebhooks, WebhookCalls};
pub use worker::{ActionWorker, ActionWorkerConfig};

/// Queue kind of a follow-up plan action.
pub const KIND_FOLLOW_UP: &str = "follow_up";
/// Queue kind of a webhook call.
pub const KIND_WEBHOOK: &str = "webhook";

/// A follow-up plan to create in profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpPlanAction {
    pub customer_id: String,
    /// The customer's owner when the action fired.
    pub manager_id: String,
    pub title: String,
    pub due_at_us: i64,
    /// Profile's idempotency key: the occurrence's de-duplication key, so a retry creates one plan.
    pub request_id: String,
}

/// A webhook call: the occurrence as JSON to `url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookCall {
    pub url: String,
    pub body: serde_json::Value,
}

/// What a queued action's payload holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QueuedAction {
    FollowUp(FollowUpPlanAction),
    Webhook(WebhookCall),
}
