//! Writing automation actions to the action queue in the caller's (consumer's or scan's) transaction.

use sea_orm::ConnectionTrait;
use serde_json::json;

use super::{FollowUpPlanAction, KIND_FOLLOW_UP, KIND_WEBHOOK, QueuedAction, WebhookCall};
use crate::domain::dedup::occurrence_key;
use crate::domain::trigger::Occurrence;
use crate::error::{Error, Result};
use crate::storage::actions::{self, NewAction};

/// The occurrence as the JSON a webhook receives.
pub fn occurrence_json(
    chain_id: &str,
    automation_id: &str,
    occurrence: &Occurrence,
    dedup_key: &str,
    fired_at_us: i64,
) -> serde_json::Value {
    let detail = match occurrence {
        Occurrence::TagAdded {
            tag,
            event_sequence,
            ..
        } => json!({"kind": "tag_added", "tag": tag, "event_sequence": event_sequence}),
        Occurrence::TagRemoved {
            tag,
            event_sequence,
            ..
        } => json!({"kind": "tag_removed", "tag": tag, "event_sequence": event_sequence}),
        Occurrence::SegmentEntered {
            segment_id,
            event_sequence,
            ..
        } => json!({"kind": "segment_entered", "segment_id": segment_id,
                     "event_sequence": event_sequence}),
        Occurrence::Birthday {
            observed_on,
            days_before,
            ..
        } => json!({"kind": "birthday", "observed_on": observed_on.to_string(),
                     "days_before": days_before}),
        Occurrence::Anniversary {
            name,
            observed_on,
            days_before,
            ..
        } => json!({"kind": "anniversary", "name": name,
                     "observed_on": observed_on.to_string(), "days_before": days_before}),
        Occurrence::OwnerChanged {
            new_owner,
            event_sequence,
            ..
        } => json!({"kind": "owner_changed", "new_owner": new_owner.as_str(),
                     "event_sequence": event_sequence}),
        Occurrence::FollowUpDue {
            plan_id,
            due_on,
            days_before,
            ..
        } => json!({"kind": "follow_up_due", "plan_id": plan_id.as_str(),
                     "due_on": due_on.to_string(), "days_before": days_before}),
        Occurrence::FollowUpOverdue {
            plan_id,
            due_on,
            days_overdue,
            ..
        } => json!({"kind": "follow_up_overdue", "plan_id": plan_id.as_str(),
                     "due_on": due_on.to_string(), "days_overdue": days_overdue}),
    };
    json!({
        "chain_id": chain_id,
        "automation_id": automation_id,
        "customer_id": occurrence.customer_id().as_str(),
        "occurrence_key": occurrence_key(occurrence),
        "dedup_key": dedup_key,
        "fired_at_us": fired_at_us,
        "occurrence": detail,
    })
}

#[allow(clippy::too_many_arguments)]
async fn insert(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    kind: &str,
    customer_id: &str,
    automation_id: &str,
    dedup_key: &str,
    action: &QueuedAction,
    now_us: i64,
) -> Result<bool> {
    let payload = serde_json::to_string(action)
        .map_err(|e| Error::invalid("automation.actions", e.to_string()))?;
    actions::insert(
        conn,
        chain_id,
        &NewAction {
            action_id: uuid::Uuid::now_v7().to_string(),
            kind: kind.to_owned(),
            customer_id: customer_id.to_owned(),
            automation_id: automation_id.to_owned(),
            dedup_key: dedup_key.to_owned(),
            payload,
            next_attempt_at_us: now_us,
        },
        now_us,
    )
    .await
}

/// Queues a follow-up plan (once per `plan.request_id`); `false` when the occurrence was queued before.
pub async fn enqueue_follow_up(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    automation_id: &str,
    plan: FollowUpPlanAction,
    now_us: i64,
) -> Result<bool> {
    let customer_id = plan.customer_id.clone();
    let key = plan.request_id.clone();
    insert(
        conn,
        chain_id,
        KIND_FOLLOW_UP,
        &customer_id,
        automation_id,
        &key,
        &QueuedAction::FollowUp(plan),
        now_us,
    )
    .await
}

/// Queues a webhook call (once per `dedup_key`); `false` when the occurrence was queued before.
pub async fn enqueue_webhook(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    automation_id: &str,
    customer_id: &str,
    dedup_key: &str,
    call: WebhookCall,
    now_us: i64,
) -> Result<bool> {
    insert(
        conn,
        chain_id,
        KIND_WEBHOOK,
        customer_id,
        automation_id,
        dedup_key,
        &QueuedAction::Webhook(call),
        now_us,
    )
    .await
}
