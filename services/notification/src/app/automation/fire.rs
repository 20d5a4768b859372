//! Firing automations: an event's occurrences, for each enabled automation whose conditions hold,
//! become messages (one per occurrence key), owner reminders in the staff inbox and queued actions
//! (follow-up plans, webhook calls: performed after the commit by `app::actions::worker`), written in the
//! consumer's (or daily scan's) transaction.

use std::collections::{BTreeMap, BTreeSet};

use maitre_proto::notification::v1 as pb;
use sea_orm::ConnectionTrait;

use super::awaiting::{self, ForOwner};
use super::to_domain;
use crate::app::actions::{
    FollowUpPlanAction, WebhookCall, enqueue_follow_up, enqueue_webhook, occurrence_json,
};
use crate::domain::automation::{Action, AutomationEvent, CustomerFacts, conditions_hold};
use crate::domain::channel::{AutomationId, CustomerClass};
use crate::domain::dedup::{DedupScope, dedup_key};
use crate::domain::template_vars::TemplateVariable;
use crate::domain::trigger::{Occurrence, occurrences};
use crate::error::Result;
use crate::state::State;
use crate::storage::inbox::NewInboxItem;
use crate::storage::messages::NewMessage;
use crate::storage::{automations, facts, policy, stores, templates};

/// The proto trigger kinds an event can fire.
pub fn trigger_kinds(event: &AutomationEvent) -> Vec<i32> {
    use pb::TriggerKind as K;
    let kinds: &[K] = match event {
        AutomationEvent::TagAdded { .. } => &[K::TagAdded],
        AutomationEvent::TagRemoved { .. } => &[K::TagRemoved],
        AutomationEvent::SegmentEntered { .. } => &[K::SegmentEntered],
        AutomationEvent::OwnerChanged { .. } => &[K::OwnerChanged],
        AutomationEvent::DayStarted(_) => &[
            K::Birthday,
            K::Anniversary,
            K::FollowUpDue,
            K::FollowUpOverdue,
        ],
    };
    kinds.iter().map(|k| *k as i32).collect()
}

/// The message variables of an occurrence (how many days until it, when a plan is due). Who the
/// guest is (name, salutation, favourites, home store) is filled when the message is rendered.
fn occurrence_values(occurrence: &Occurrence) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    match occurrence {
        Occurrence::Birthday { days_before, .. } | Occurrence::Anniversary { days_before, .. } => {
            values.insert(
                TemplateVariable::OccurrenceDaysUntil.path().into(),
                days_before.to_string(),
            );
        }
        Occurrence::FollowUpDue { due_on, .. } | Occurrence::FollowUpOverdue { due_on, .. } => {
            values.insert(
                TemplateVariable::FollowUpDueOn.path().into(),
                due_on.to_string(),
            );
        }
        _ => {}
    }
    values
}

/// How a reminder names a guest profile has told no name of: "顾客" and the last four characters
/// of their id (enough for the manager to tell two apart in the list).
fn unnamed_guest(customer_id: &str) -> String {
    let tail: String = customer_id
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("顾客（尾号{tail}）")
}

/// Fires the chain's enabled automations for `event` in the consumer's transaction. Returns how many
/// messages and reminders were written (duplicates of an occurrence write nothing).
pub async fn fire(
    state: &State,
    conn: &impl ConnectionTrait,
    chain_id: &str,
    event: &AutomationEvent,
    now_us: i64,
) -> Result<usize> {
    let candidates =
        automations::enabled_with_triggers(conn, chain_id, &trigger_kinds(event)).await?;
    if candidates.is_empty() {
        return Ok(0);
    }
    let customer = event.customer_id().as_str();
    let known = facts::get(conn, chain_id, customer).await?;
    let preferences = policy::preferences(conn, chain_id, customer).await?;
    let class = match known.class.as_str() {
        "A" => Some(CustomerClass::A),
        "B" => Some(CustomerClass::B),
        "C" => Some(CustomerClass::C),
        _ => None,
    };
    let tags: BTreeSet<String> = known.tags.clone();
    let customer_facts = CustomerFacts {
        tags: &tags,
        class,
        consent: &preferences.consent,
    };
    let mut written = 0;
    for proto in candidates {
        let automation = match to_domain(conn, chain_id, &proto).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(automation = %proto.automation_id, error = %e, "automation no longer valid; skipped");
                continue;
            }
        };
        let found = occurrences(&automation.trigger, event);
        if found.is_empty() || !conditions_hold(&automation.conditions, &customer_facts) {
            continue;
        }
        for occurrence in &found {
            for (index, action) in automation.actions.iter().enumerate() {
                let action = IndexedAction { index, action };
                written += run_action(
                    state, conn, chain_id, &proto, action, occurrence, &known, now_us,
                )
                .await?;
            }
        }
    }
    Ok(written)
}

/// An action with its position in the automation (webhook keys and the proto's hours need it).
#[derive(Clone, Copy)]
struct IndexedAction<'a> {
    index: usize,
    action: &'a Action,
}

#[allow(clippy::too_many_arguments)]
async fn run_action(
    state: &State,
    conn: &impl ConnectionTrait,
    chain_id: &str,
    proto: &pb::Automation,
    action: IndexedAction<'_>,
    occurrence: &Occurrence,
    known: &facts::CustomerFacts,
    now_us: i64,
) -> Result<usize> {
    let customer = occurrence.customer_id().as_str();
    let IndexedAction { index, action } = action;
    match action {
        Action::MessageCustomer {
            channel,
            template_id,
            purpose,
            coupon,
        } => {
            let mut variables = occurrence_values(occurrence);
            if let Some(coupon) = coupon {
                // No coupon service yet: the batch id is the code the guest shows.
                variables.insert(
                    TemplateVariable::CouponCode.path().into(),
                    coupon.coupon_batch_id.clone(),
                );
                // Valid for `valid_days` from today in the guest's home-store zone.
                let zone = stores::customer_zone(conn, chain_id, customer).await?;
                let today = chrono::DateTime::from_timestamp_micros(now_us)
                    .unwrap_or_default()
                    .with_timezone(&zone)
                    .date_naive();
                let expires_on = today + chrono::Days::new(u64::from(coupon.valid_days));
                variables.insert(
                    TemplateVariable::CouponExpiresOn.path().into(),
                    expires_on.to_string(),
                );
            }
            let message = NewMessage {
                message_id: uuid::Uuid::now_v7().to_string(),
                customer_id: customer.to_owned(),
                staff_id: String::new(),
                channel: *channel,
                purpose: *purpose,
                template_id: template_id.clone(),
                variables,
                campaign_id: String::new(),
                automation_id: proto.automation_id.clone(),
                dedup_key: dedup_key(occurrence, &DedupScope::Customer)
                    .as_str()
                    .to_owned(),
                next_attempt_at_us: now_us,
            };
            let inserted = crate::app::delivery::enqueue(conn, chain_id, &message, now_us).await?;
            if inserted {
                state.enqueued();
            }
            Ok(usize::from(inserted))
        }
        Action::RemindOwner { template_id } => {
            let Some(stored) = templates::get(conn, chain_id, template_id).await? else {
                return Ok(0);
            };
            // The reminder is rendered now, naming the guest as profile told of them; a guest
            // with no name yet is "顾客" and the end of their id, never the raw id.
            let mut values = facts::guest(conn, chain_id, customer)
                .await?
                .unwrap_or_default()
                .template_values();
            if values.get(TemplateVariable::CustomerSalutation).is_none() {
                values.set(
                    TemplateVariable::CustomerSalutation,
                    unnamed_guest(customer),
                );
            }
            for (path, value) in occurrence_values(occurrence) {
                if let Some(variable) = TemplateVariable::from_path(&path) {
                    values.set(variable, value);
                }
            }
            let rendered = match stored.compile()?.render(&values, &Default::default()) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(template = %template_id, error = %e, "reminder not rendered; skipped");
                    return Ok(0);
                }
            };
            let item = NewInboxItem {
                item_id: uuid::Uuid::now_v7().to_string(),
                staff_id: known.owner_id.clone(),
                title: rendered.subject.unwrap_or_default(),
                body: rendered.body,
                customer_id: customer.to_owned(),
                dedup_key: dedup_key(occurrence, &DedupScope::OwnerReminder)
                    .as_str()
                    .to_owned(),
            };
            if known.owner_id.is_empty() {
                let waiting = ForOwner::Reminder {
                    item_id: item.item_id,
                    customer_id: item.customer_id,
                    title: item.title,
                    body: item.body,
                    dedup_key: item.dedup_key,
                };
                awaiting::park(conn, chain_id, &waiting, now_us).await?;
                return Ok(0);
            }
            let inserted =
                crate::app::delivery::write_inbox(state, conn, chain_id, &item, now_us).await?;
            if inserted {
                state.inbox.notify_waiters();
            }
            Ok(usize::from(inserted))
        }
        Action::CreateFollowUpPlan { due_in_days, note } => {
            // The contract says hours (`due_in_hours`); the domain keeps whole days.
            let due_in_hours = proto
                .actions
                .get(index)
                .map(|a| i64::from(a.due_in_hours.max(0)))
                .unwrap_or_else(|| i64::from(*due_in_days) * 24);
            let automation_id = AutomationId::new(proto.automation_id.clone());
            let request_id = dedup_key(occurrence, &DedupScope::FollowUpPlan { automation_id })
                .as_str()
                .to_owned();
            let plan = FollowUpPlanAction {
                customer_id: customer.to_owned(),
                manager_id: known.owner_id.clone(),
                title: if note.is_empty() {
                    proto.name.clone()
                } else {
                    note.clone()
                },
                due_at_us: now_us.saturating_add(due_in_hours.saturating_mul(3_600_000_000)),
                request_id,
            };
            if known.owner_id.is_empty() {
                let waiting = ForOwner::FollowUp {
                    automation_id: proto.automation_id.clone(),
                    plan,
                };
                awaiting::park(conn, chain_id, &waiting, now_us).await?;
                return Ok(0);
            }
            let inserted =
                enqueue_follow_up(conn, chain_id, &proto.automation_id, plan, now_us).await?;
            Ok(usize::from(inserted))
        }
        Action::CallWebhook { url } => {
            let automation_id = AutomationId::new(proto.automation_id.clone());
            let key = dedup_key(
                occurrence,
                &DedupScope::Webhook {
                    automation_id,
                    action_index: index,
                },
            );
            let body = occurrence_json(
                chain_id,
                &proto.automation_id,
                occurrence,
                key.as_str(),
                now_us,
            );
            let call = WebhookCall {
                url: url.clone(),
                body,
            };
            let inserted = enqueue_webhook(
                conn,
                chain_id,
                &proto.automation_id,
                customer,
                key.as_str(),
                call,
                now_us,
            )
            .await?;
            Ok(usize::from(inserted))
        }
    }
}
