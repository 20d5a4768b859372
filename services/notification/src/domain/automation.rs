//! Automations: trigger → conditions → actions (ARCHITECTURE.md "Notification and automation"; seed 002
//! §4: "标签触发动作" — a tag such as "60 days without a visit" triggers a win-back offer; seed 000 §三: the
//! system reminds the manager before a guest's birthday).
//!
//! This module owns the definitions and [`conditions_hold`]; trigger matching lives in `trigger`,
//! save-time validation in `automation_validate`, ready-made automations in `presets`.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::channel::{
    Channel, CustomerClass, CustomerId, FollowUpPlanId, ManagerId, MessagePurpose,
};
use super::consent::ConsentState;

/// What starts an automation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    TagAdded {
        tag: String,
    },
    TagRemoved {
        tag: String,
    },
    SegmentEntered {
        segment_id: String,
    },
    /// The guest's birthday is `days_before` store-local days away (0 = today).
    BirthdayInDays {
        days_before: u16,
    },
    /// An anniversary is `days_before` days away; `name` narrows it ("结婚纪念日"), `None` means any.
    AnniversaryInDays {
        days_before: u16,
        name: Option<String>,
    },
    /// The guest's owning manager changed (assignment or transfer).
    OwnerChanged,
    /// An open follow-up plan is due in `days_before` days (0 = due today).
    FollowUpDue {
        days_before: u16,
    },
    /// An open follow-up plan has been overdue for exactly `days_overdue` days.
    FollowUpOverdue {
        days_overdue: u16,
    },
}

/// An anniversary recorded on the profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anniversary {
    pub name: String,
    pub date: NaiveDate,
}

/// A follow-up plan as the daily scan sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpPlanDue {
    pub plan_id: FollowUpPlanId,
    pub due_on: NaiveDate,
    /// Completed plans never trigger.
    pub completed: bool,
}

/// The daily per-guest scan, run once per store-local day: date triggers have no event of their own
/// (ARCHITECTURE.md "Tagging": time moves rules with no event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayStarted {
    pub customer_id: CustomerId,
    /// Today in the guest's store's zone.
    pub store_today: NaiveDate,
    pub birthday: Option<NaiveDate>,
    pub anniversaries: Vec<Anniversary>,
    pub follow_ups: Vec<FollowUpPlanDue>,
}

/// Something that happened to a guest, as consumed from the other services' event streams. The
/// `event_sequence` is the producer's outbox sequence: it identifies the occurrence for de-duplication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AutomationEvent {
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
    OwnerChanged {
        customer_id: CustomerId,
        previous_owner: Option<ManagerId>,
        new_owner: ManagerId,
        event_sequence: u64,
    },
    DayStarted(DayStarted),
}

impl AutomationEvent {
    pub fn customer_id(&self) -> &CustomerId {
        match self {
            AutomationEvent::TagAdded { customer_id, .. }
            | AutomationEvent::TagRemoved { customer_id, .. }
            | AutomationEvent::SegmentEntered { customer_id, .. }
            | AutomationEvent::OwnerChanged { customer_id, .. } => customer_id,
            AutomationEvent::DayStarted(day) => &day.customer_id,
        }
    }
}

/// A condition checked against the guest's profile when the trigger fires; all must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Condition {
    /// The guest has every one of these tags.
    HasTags { tags: Vec<String> },
    /// The guest has none of these tags.
    LacksTags { tags: Vec<String> },
    /// The guest's class is one of these (seed 000 §三: A/B/C classes).
    ClassIn { classes: Vec<CustomerClass> },
    /// The guest opted in to marketing on this channel.
    ConsentFor { channel: Channel },
}

/// The guest's state the conditions read.
#[derive(Debug, Clone, Copy)]
pub struct CustomerFacts<'a> {
    pub tags: &'a BTreeSet<String>,
    pub class: Option<CustomerClass>,
    pub consent: &'a ConsentState,
}

/// Whether every condition holds for the guest (an empty list holds).
pub fn conditions_hold(conditions: &[Condition], facts: &CustomerFacts<'_>) -> bool {
    conditions
        .iter()
        .all(|condition| condition_holds(condition, facts))
}

fn condition_holds(condition: &Condition, facts: &CustomerFacts<'_>) -> bool {
    match condition {
        Condition::HasTags { tags } => tags.iter().all(|tag| facts.tags.contains(tag)),
        Condition::LacksTags { tags } => !tags.iter().any(|tag| facts.tags.contains(tag)),
        Condition::ClassIn { classes } => facts.class.is_some_and(|class| classes.contains(&class)),
        Condition::ConsentFor { channel } => facts
            .consent
            .allows(*channel, MessagePurpose::Marketing)
            .is_ok(),
    }
}

/// A coupon attached to a customer message; the coupon service issues the code at send time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponOffer {
    /// The coupon batch/definition to issue from, e.g. the "free signature dessert" batch.
    pub coupon_batch_id: String,
    pub valid_days: u16,
}

/// What an automation does once trigger and conditions agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Message the guest with a template, optionally issuing a coupon.
    MessageCustomer {
        channel: Channel,
        template_id: String,
        purpose: MessagePurpose,
        coupon: Option<CouponOffer>,
    },
    /// Put a reminder in the owning manager's staff inbox ("李女士 3 天后生日，她喜欢甜品").
    RemindOwner { template_id: String },
    /// Create a follow-up plan (跟进计划) for the owning manager, due `due_in_days` after the trigger.
    CreateFollowUpPlan { due_in_days: u16, note: String },
    /// POST the occurrence to an external system, signed (see `signature`).
    CallWebhook { url: String },
}

/// A complete automation definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Automation {
    pub name: String,
    pub trigger: Trigger,
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
    pub enabled: bool,
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::super::consent::ChannelConsent;
    use super::*;

    fn tags(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|tag| tag.to_string()).collect()
    }

    #[test]
    fn tag_conditions() {
        let guest_tags = tags(&["likes_dessert", "vip"]);
        let consent = ConsentState::new();
        let facts = CustomerFacts {
            tags: &guest_tags,
            class: Some(CustomerClass::A),
            consent: &consent,
        };
        let has = |list: &[&str]| Condition::HasTags {
            tags: list.iter().map(|t| t.to_string()).collect(),
        };
        let lacks = |list: &[&str]| Condition::LacksTags {
            tags: list.iter().map(|t| t.to_string()).collect(),
        };
        assert!(conditions_hold(&[has(&["likes_dessert", "vip"])], &facts));
        assert!(!conditions_hold(
            &[has(&["likes_dessert", "churned"])],
            &facts
        ));
        assert!(conditions_hold(&[lacks(&["churned"])], &facts));
        assert!(!conditions_hold(&[lacks(&["churned", "vip"])], &facts));
        assert!(!conditions_hold(&[has(&["vip"]), lacks(&["vip"])], &facts));
        assert!(conditions_hold(&[], &facts));
    }

    #[test]
    fn class_condition_needs_a_known_class() {
        let guest_tags = tags(&[]);
        let consent = ConsentState::new();
        let condition = [Condition::ClassIn {
            classes: vec![CustomerClass::A, CustomerClass::B],
        }];
        let class_b = CustomerFacts {
            tags: &guest_tags,
            class: Some(CustomerClass::B),
            consent: &consent,
        };
        let class_c = CustomerFacts {
            class: Some(CustomerClass::C),
            ..class_b
        };
        let unclassified = CustomerFacts {
            class: None,
            ..class_b
        };
        assert!(conditions_hold(&condition, &class_b));
        assert!(!conditions_hold(&condition, &class_c));
        assert!(!conditions_hold(&condition, &unclassified));
    }

    #[test]
    fn consent_condition_reads_marketing_opt_in() {
        let guest_tags = tags(&[]);
        let at = Utc
            .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
            .single()
            .expect("valid");
        let consent = ConsentState::new().with(Channel::Wechat, ChannelConsent::OptedIn { at });
        let facts = CustomerFacts {
            tags: &guest_tags,
            class: None,
            consent: &consent,
        };
        assert!(conditions_hold(
            &[Condition::ConsentFor {
                channel: Channel::Wechat
            }],
            &facts
        ));
        assert!(!conditions_hold(
            &[Condition::ConsentFor {
                channel: Channel::Sms
            }],
            &facts
        ));
    }
}
