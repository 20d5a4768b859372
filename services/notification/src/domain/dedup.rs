//! De-duplication keys: one key per occurrence and recipient, so replays of an event, overlapping
//! automations or a restarted daily scan never message anyone twice for the same occurrence
//! (ARCHITECTURE.md "Delivery": a guest is never messaged twice for one occurrence).
//!
//! Key formats (components containing `:` or `%` are percent-escaped):
//!
//! | occurrence        | guest-facing key                                   |
//! |-------------------|----------------------------------------------------|
//! | birthday          | `birthday:{customer}:{year}` — one greeting per birthday ever, whatever the lead time |
//! | anniversary       | `anniversary:{customer}:{name}:{year}`             |
//! | tag added         | `tag_added:{customer}:{tag}:{event_sequence}`      |
//! | tag removed       | `tag_removed:{customer}:{tag}:{event_sequence}`    |
//! | segment entered   | `segment_entered:{customer}:{segment}:{event_sequence}` |
//! | owner changed     | `owner_changed:{customer}:{new_owner}:{event_sequence}` |
//! | follow-up due     | `follow_up_due:{customer}:{plan}:{due_on}:d{days_before}` |
//! | follow-up overdue | `follow_up_overdue:{customer}:{plan}:{due_on}:o{days_overdue}` |
//!
//! Tag, segment and owner occurrences use the producer's outbox sequence, so a tag removed and added
//! again later is a new occurrence while a replayed event is not. Staff reminders, follow-up plans and
//! webhooks get their own suffix so they do not consume the guest's key; staff reminders include the
//! lead time (a 3-day and a same-day reminder are different reminders).

use std::fmt;

use chrono::Datelike;

use super::channel::AutomationId;
use super::trigger::Occurrence;

/// A de-duplication key; the service stores it with a unique constraint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DedupKey(String);

impl DedupKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A key read back from storage, or one the service builds outside occurrences (campaign sends, a
/// manager's `request_id`).
impl From<&str> for DedupKey {
    fn from(stored: &str) -> Self {
        DedupKey(stored.to_owned())
    }
}

impl fmt::Display for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who or what receives the effect of an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DedupScope {
    /// A message to the guest, whatever the channel: one per occurrence.
    Customer,
    /// A reminder in the owning manager's inbox.
    OwnerReminder,
    /// A follow-up plan created by an automation.
    FollowUpPlan { automation_id: AutomationId },
    /// A webhook call by one action of one automation.
    Webhook {
        automation_id: AutomationId,
        action_index: usize,
    },
}

/// The occurrence part of the key, identical for every recipient.
pub fn occurrence_key(occurrence: &Occurrence) -> String {
    let c = |id: &str| escape(id);
    match occurrence {
        Occurrence::Birthday {
            customer_id,
            observed_on,
            ..
        } => {
            format!(
                "birthday:{}:{}",
                c(customer_id.as_str()),
                observed_on.year()
            )
        }
        Occurrence::Anniversary {
            customer_id,
            name,
            observed_on,
            ..
        } => {
            format!(
                "anniversary:{}:{}:{}",
                c(customer_id.as_str()),
                c(name),
                observed_on.year()
            )
        }
        Occurrence::TagAdded {
            customer_id,
            tag,
            event_sequence,
        } => {
            format!(
                "tag_added:{}:{}:{event_sequence}",
                c(customer_id.as_str()),
                c(tag)
            )
        }
        Occurrence::TagRemoved {
            customer_id,
            tag,
            event_sequence,
        } => {
            format!(
                "tag_removed:{}:{}:{event_sequence}",
                c(customer_id.as_str()),
                c(tag)
            )
        }
        Occurrence::SegmentEntered {
            customer_id,
            segment_id,
            event_sequence,
        } => {
            format!(
                "segment_entered:{}:{}:{event_sequence}",
                c(customer_id.as_str()),
                c(segment_id)
            )
        }
        Occurrence::OwnerChanged {
            customer_id,
            new_owner,
            event_sequence,
        } => {
            format!(
                "owner_changed:{}:{}:{event_sequence}",
                c(customer_id.as_str()),
                c(new_owner.as_str())
            )
        }
        Occurrence::FollowUpDue {
            customer_id,
            plan_id,
            due_on,
            days_before,
        } => {
            format!(
                "follow_up_due:{}:{}:{due_on}:d{days_before}",
                c(customer_id.as_str()),
                c(plan_id.as_str())
            )
        }
        Occurrence::FollowUpOverdue {
            customer_id,
            plan_id,
            due_on,
            days_overdue,
        } => {
            format!(
                "follow_up_overdue:{}:{}:{due_on}:o{days_overdue}",
                c(customer_id.as_str()),
                c(plan_id.as_str())
            )
        }
    }
}

/// The key for one recipient of one occurrence.
pub fn dedup_key(occurrence: &Occurrence, scope: &DedupScope) -> DedupKey {
    let base = occurrence_key(occurrence);
    DedupKey(match scope {
        DedupScope::Customer => base,
        DedupScope::OwnerReminder => format!("{base}:owner_reminder:d{}", lead_days(occurrence)),
        DedupScope::FollowUpPlan { automation_id } => {
            format!("{base}:follow_up_plan:{}", escape(automation_id.as_str()))
        }
        DedupScope::Webhook {
            automation_id,
            action_index,
        } => {
            format!(
                "{base}:webhook:{}:{action_index}",
                escape(automation_id.as_str())
            )
        }
    })
}

fn lead_days(occurrence: &Occurrence) -> u16 {
    match occurrence {
        Occurrence::Birthday { days_before, .. }
        | Occurrence::Anniversary { days_before, .. }
        | Occurrence::FollowUpDue { days_before, .. } => *days_before,
        _ => 0,
    }
}

/// Escapes the separator so ids containing `:` cannot forge another key.
fn escape(component: &str) -> String {
    component.replace('%', "%25").replace(':', "%3A")
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::super::channel::{CustomerId, FollowUpPlanId, ManagerId};
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
    }

    fn birthday(days_before: u16) -> Occurrence {
        Occurrence::Birthday {
            customer_id: CustomerId::new("c1"),
            observed_on: date(2026, 1, 2),
            days_before,
        }
    }

    #[test]
    fn birthday_key_is_per_customer_and_birthday_year() {
        assert_eq!(
            dedup_key(&birthday(3), &DedupScope::Customer).as_str(),
            "birthday:c1:2026"
        );
        // Whatever lead time fired it, the guest gets one greeting per birthday.
        assert_eq!(
            dedup_key(&birthday(0), &DedupScope::Customer),
            dedup_key(&birthday(3), &DedupScope::Customer)
        );
    }

    #[test]
    fn owner_reminders_do_not_consume_the_guest_key_and_differ_by_lead_time() {
        let guest = dedup_key(&birthday(3), &DedupScope::Customer);
        let reminder_3d = dedup_key(&birthday(3), &DedupScope::OwnerReminder);
        let reminder_0d = dedup_key(&birthday(0), &DedupScope::OwnerReminder);
        assert_eq!(reminder_3d.as_str(), "birthday:c1:2026:owner_reminder:d3");
        assert_ne!(guest, reminder_3d);
        assert_ne!(reminder_3d, reminder_0d);
    }

    #[test]
    fn stream_occurrences_use_the_event_sequence() {
        let added = |event_sequence| Occurrence::TagAdded {
            customer_id: CustomerId::new("c1"),
            tag: "lapsed_60d".into(),
            event_sequence,
        };
        assert_eq!(
            dedup_key(&added(41), &DedupScope::Customer).as_str(),
            "tag_added:c1:lapsed_60d:41"
        );
        assert_ne!(
            dedup_key(&added(41), &DedupScope::Customer),
            dedup_key(&added(97), &DedupScope::Customer)
        );
        let owner = Occurrence::OwnerChanged {
            customer_id: CustomerId::new("c1"),
            new_owner: ManagerId::new("wang"),
            event_sequence: 5,
        };
        assert_eq!(occurrence_key(&owner), "owner_changed:c1:wang:5");
    }

    #[test]
    fn follow_up_keys_name_plan_and_timing() {
        let due = Occurrence::FollowUpDue {
            customer_id: CustomerId::new("c1"),
            plan_id: FollowUpPlanId::new("p9"),
            due_on: date(2025, 6, 20),
            days_before: 0,
        };
        assert_eq!(occurrence_key(&due), "follow_up_due:c1:p9:2025-06-20:d0");
    }

    #[test]
    fn separators_in_ids_are_escaped() {
        let tricky = Occurrence::Birthday {
            customer_id: CustomerId::new("a:b%"),
            observed_on: date(2025, 1, 1),
            days_before: 0,
        };
        assert_eq!(occurrence_key(&tricky), "birthday:a%3Ab%25:2025");
    }

    #[test]
    fn webhook_and_plan_scopes_are_per_automation() {
        let automation_id = AutomationId::new("auto-1");
        let webhook = dedup_key(
            &birthday(0),
            &DedupScope::Webhook {
                automation_id: automation_id.clone(),
                action_index: 2,
            },
        );
        let plan = dedup_key(&birthday(0), &DedupScope::FollowUpPlan { automation_id });
        assert_eq!(webhook.as_str(), "birthday:c1:2026:webhook:auto-1:2");
        assert_eq!(plan.as_str(), "birthday:c1:2026:follow_up_plan:auto-1");
    }
}
