//! Trigger matching: which occurrences an event produces for a trigger. An occurrence is the unit a guest
//! is messaged for at most once ("A guest is never messaged twice for one occurrence", ARCHITECTURE.md),
//! so matching returns occurrences, and `dedup` turns them into keys.

use chrono::NaiveDate;

use super::automation::{AutomationEvent, DayStarted, Trigger};
use super::calendar::{days_until_next, next_observed};
use super::channel::{CustomerId, FollowUpPlanId, ManagerId};

/// One thing that happened to one guest that an automation reacts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Occurrence {
    TagAdded {
        customer_id: CustomerId,
        tag: String,
        event_sequence: u64,
    },
    TagRemoved {
        customer_id: CustomerId,
        tag: String,
        event_sequence: u64,
    },
    SegmentEntered {
        customer_id: CustomerId,
        segment_id: String,
        event_sequence: u64,
    },
    /// `observed_on` is the store-local date the birthday is celebrated this time (Feb 28 for leap-day
    /// birthdays in common years); `days_before` is how far ahead the trigger fired.
    Birthday {
        customer_id: CustomerId,
        observed_on: NaiveDate,
        days_before: u16,
    },
    Anniversary {
        customer_id: CustomerId,
        name: String,
        observed_on: NaiveDate,
        days_before: u16,
    },
    OwnerChanged {
        customer_id: CustomerId,
        new_owner: ManagerId,
        event_sequence: u64,
    },
    FollowUpDue {
        customer_id: CustomerId,
        plan_id: FollowUpPlanId,
        due_on: NaiveDate,
        days_before: u16,
    },
    FollowUpOverdue {
        customer_id: CustomerId,
        plan_id: FollowUpPlanId,
        due_on: NaiveDate,
        days_overdue: u16,
    },
}

impl Occurrence {
    pub fn customer_id(&self) -> &CustomerId {
        match self {
            Occurrence::TagAdded { customer_id, .. }
            | Occurrence::TagRemoved { customer_id, .. }
            | Occurrence::SegmentEntered { customer_id, .. }
            | Occurrence::Birthday { customer_id, .. }
            | Occurrence::Anniversary { customer_id, .. }
            | Occurrence::OwnerChanged { customer_id, .. }
            | Occurrence::FollowUpDue { customer_id, .. }
            | Occurrence::FollowUpOverdue { customer_id, .. } => customer_id,
        }
    }
}

/// Whether `event` fires `trigger`.
pub fn matches(trigger: &Trigger, event: &AutomationEvent) -> bool {
    !occurrences(trigger, event).is_empty()
}

/// The occurrences `event` produces for `trigger` (several when, say, two follow-up plans fall due the
/// same day; none when the trigger does not fire).
pub fn occurrences(trigger: &Trigger, event: &AutomationEvent) -> Vec<Occurrence> {
    match (trigger, event) {
        (
            Trigger::TagAdded { tag },
            AutomationEvent::TagAdded {
                customer_id,
                tag: added,
                event_sequence,
            },
        ) if tag == added => {
            vec![Occurrence::TagAdded {
                customer_id: customer_id.clone(),
                tag: tag.clone(),
                event_sequence: *event_sequence,
            }]
        }
        (
            Trigger::TagRemoved { tag },
            AutomationEvent::TagRemoved {
                customer_id,
                tag: removed,
                event_sequence,
            },
        ) if tag == removed => {
            vec![Occurrence::TagRemoved {
                customer_id: customer_id.clone(),
                tag: tag.clone(),
                event_sequence: *event_sequence,
            }]
        }
        (
            Trigger::SegmentEntered { segment_id },
            AutomationEvent::SegmentEntered {
                customer_id,
                segment_id: entered,
                event_sequence,
            },
        ) if segment_id == entered => vec![Occurrence::SegmentEntered {
            customer_id: customer_id.clone(),
            segment_id: segment_id.clone(),
            event_sequence: *event_sequence,
        }],
        (
            Trigger::OwnerChanged,
            AutomationEvent::OwnerChanged {
                customer_id,
                previous_owner,
                new_owner,
                event_sequence,
            },
        ) if previous_owner.as_ref() != Some(new_owner) => {
            vec![Occurrence::OwnerChanged {
                customer_id: customer_id.clone(),
                new_owner: new_owner.clone(),
                event_sequence: *event_sequence,
            }]
        }
        (Trigger::BirthdayInDays { days_before }, AutomationEvent::DayStarted(day)) => {
            birthday(*days_before, day)
        }
        (Trigger::AnniversaryInDays { days_before, name }, AutomationEvent::DayStarted(day)) => {
            anniversaries(*days_before, name.as_deref(), day)
        }
        (Trigger::FollowUpDue { days_before }, AutomationEvent::DayStarted(day)) => day
            .follow_ups
            .iter()
            .filter(|plan| {
                !plan.completed
                    && (plan.due_on - day.store_today).num_days() == i64::from(*days_before)
            })
            .map(|plan| Occurrence::FollowUpDue {
                customer_id: day.customer_id.clone(),
                plan_id: plan.plan_id.clone(),
                due_on: plan.due_on,
                days_before: *days_before,
            })
            .collect(),
        (Trigger::FollowUpOverdue { days_overdue }, AutomationEvent::DayStarted(day)) => day
            .follow_ups
            .iter()
            .filter(|plan| {
                !plan.completed
                    && (day.store_today - plan.due_on).num_days() == i64::from(*days_overdue)
            })
            .map(|plan| Occurrence::FollowUpOverdue {
                customer_id: day.customer_id.clone(),
                plan_id: plan.plan_id.clone(),
                due_on: plan.due_on,
                days_overdue: *days_overdue,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn birthday(days_before: u16, day: &DayStarted) -> Vec<Occurrence> {
    let Some(born_on) = day.birthday else {
        return Vec::new();
    };
    if days_until_next(born_on, day.store_today) != Some(i64::from(days_before)) {
        return Vec::new();
    }
    next_observed(born_on, day.store_today)
        .map(|observed_on| Occurrence::Birthday {
            customer_id: day.customer_id.clone(),
            observed_on,
            days_before,
        })
        .into_iter()
        .collect()
}

fn anniversaries(days_before: u16, name: Option<&str>, day: &DayStarted) -> Vec<Occurrence> {
    day.anniversaries
        .iter()
        .filter(|anniversary| name.is_none_or(|wanted| wanted == anniversary.name))
        .filter(|anniversary| {
            days_until_next(anniversary.date, day.store_today) == Some(i64::from(days_before))
        })
        .filter_map(|anniversary| {
            next_observed(anniversary.date, day.store_today).map(|observed_on| {
                Occurrence::Anniversary {
                    customer_id: day.customer_id.clone(),
                    name: anniversary.name.clone(),
                    observed_on,
                    days_before,
                }
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "trigger_tests.rs"]
mod tests;
