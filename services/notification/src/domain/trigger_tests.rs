use super::super::automation::{Anniversary, FollowUpPlanDue};
use super::*;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
}

fn li() -> CustomerId {
    CustomerId::new("cust-li")
}

fn day(store_today: NaiveDate) -> DayStarted {
    DayStarted {
        customer_id: li(),
        store_today,
        birthday: Some(date(1990, 6, 18)),
        anniversaries: vec![Anniversary {
            name: "结婚纪念日".into(),
            date: date(2015, 10, 1),
        }],
        follow_ups: vec![
            FollowUpPlanDue {
                plan_id: FollowUpPlanId::new("plan-1"),
                due_on: date(2025, 6, 20),
                completed: false,
            },
            FollowUpPlanDue {
                plan_id: FollowUpPlanId::new("plan-2"),
                due_on: date(2025, 6, 20),
                completed: true,
            },
        ],
    }
}

#[test]
fn tag_added_matches_only_the_same_tag_and_kind() {
    let trigger = Trigger::TagAdded {
        tag: "lapsed_60d".into(),
    };
    let added = AutomationEvent::TagAdded {
        customer_id: li(),
        tag: "lapsed_60d".into(),
        event_sequence: 7,
    };
    let other_tag = AutomationEvent::TagAdded {
        customer_id: li(),
        tag: "vip".into(),
        event_sequence: 8,
    };
    let removed = AutomationEvent::TagRemoved {
        customer_id: li(),
        tag: "lapsed_60d".into(),
        event_sequence: 9,
    };
    assert!(matches(&trigger, &added));
    assert!(!matches(&trigger, &other_tag));
    assert!(!matches(&trigger, &removed));
    assert!(matches(
        &Trigger::TagRemoved {
            tag: "lapsed_60d".into()
        },
        &removed
    ));
    assert_eq!(
        occurrences(&trigger, &added),
        vec![Occurrence::TagAdded {
            customer_id: li(),
            tag: "lapsed_60d".into(),
            event_sequence: 7
        }]
    );
}

#[test]
fn segment_entered_matches_its_segment() {
    let trigger = Trigger::SegmentEntered {
        segment_id: "seg-seafood".into(),
    };
    let event = |segment: &str| AutomationEvent::SegmentEntered {
        customer_id: li(),
        segment_id: segment.into(),
        event_sequence: 1,
    };
    assert!(matches(&trigger, &event("seg-seafood")));
    assert!(!matches(&trigger, &event("seg-steak")));
}

#[test]
fn owner_changed_ignores_no_op_reassignment() {
    let event = |previous: Option<&str>, new: &str| AutomationEvent::OwnerChanged {
        customer_id: li(),
        previous_owner: previous.map(ManagerId::new),
        new_owner: ManagerId::new(new),
        event_sequence: 3,
    };
    assert!(matches(
        &Trigger::OwnerChanged,
        &event(Some("wang"), "zhao")
    ));
    assert!(matches(&Trigger::OwnerChanged, &event(None, "zhao")));
    assert!(!matches(
        &Trigger::OwnerChanged,
        &event(Some("zhao"), "zhao")
    ));
}

#[test]
fn birthday_in_n_days_fires_exactly_n_days_before() {
    let trigger = Trigger::BirthdayInDays { days_before: 3 };
    assert!(matches(
        &trigger,
        &AutomationEvent::DayStarted(day(date(2025, 6, 15)))
    ));
    assert!(!matches(
        &trigger,
        &AutomationEvent::DayStarted(day(date(2025, 6, 14)))
    ));
    assert!(!matches(
        &trigger,
        &AutomationEvent::DayStarted(day(date(2025, 6, 16)))
    ));
    assert_eq!(
        occurrences(
            &trigger,
            &AutomationEvent::DayStarted(day(date(2025, 6, 15)))
        ),
        vec![Occurrence::Birthday {
            customer_id: li(),
            observed_on: date(2025, 6, 18),
            days_before: 3
        }]
    );
}

#[test]
fn leap_day_birthday_fires_on_feb_28_in_common_years() {
    let mut scan = day(date(2025, 2, 28));
    scan.birthday = Some(date(1996, 2, 29));
    let occurrences = occurrences(
        &Trigger::BirthdayInDays { days_before: 0 },
        &AutomationEvent::DayStarted(scan),
    );
    assert_eq!(
        occurrences,
        vec![Occurrence::Birthday {
            customer_id: li(),
            observed_on: date(2025, 2, 28),
            days_before: 0
        }]
    );
}

#[test]
fn guest_without_birthday_never_matches() {
    let mut scan = day(date(2025, 6, 18));
    scan.birthday = None;
    assert!(!matches(
        &Trigger::BirthdayInDays { days_before: 0 },
        &AutomationEvent::DayStarted(scan)
    ));
}

#[test]
fn anniversary_filters_by_name() {
    let scan = AutomationEvent::DayStarted(day(date(2025, 9, 24)));
    assert!(matches(
        &Trigger::AnniversaryInDays {
            days_before: 7,
            name: None
        },
        &scan
    ));
    assert!(matches(
        &Trigger::AnniversaryInDays {
            days_before: 7,
            name: Some("结婚纪念日".into())
        },
        &scan
    ));
    assert!(!matches(
        &Trigger::AnniversaryInDays {
            days_before: 7,
            name: Some("开业纪念日".into())
        },
        &scan
    ));
    assert!(!matches(
        &Trigger::AnniversaryInDays {
            days_before: 6,
            name: None
        },
        &scan
    ));
}

#[test]
fn follow_up_due_and_overdue_skip_completed_plans() {
    let due = occurrences(
        &Trigger::FollowUpDue { days_before: 1 },
        &AutomationEvent::DayStarted(day(date(2025, 6, 19))),
    );
    assert_eq!(
        due,
        vec![Occurrence::FollowUpDue {
            customer_id: li(),
            plan_id: FollowUpPlanId::new("plan-1"),
            due_on: date(2025, 6, 20),
            days_before: 1
        }]
    );
    let overdue_event = AutomationEvent::DayStarted(day(date(2025, 6, 23)));
    assert_eq!(
        occurrences(
            &Trigger::FollowUpOverdue { days_overdue: 3 },
            &overdue_event
        )
        .len(),
        1
    );
    assert!(!matches(
        &Trigger::FollowUpOverdue { days_overdue: 2 },
        &overdue_event
    ));
}

#[test]
fn date_triggers_ignore_stream_events() {
    let event = AutomationEvent::TagAdded {
        customer_id: li(),
        tag: "vip".into(),
        event_sequence: 1,
    };
    assert!(!matches(
        &Trigger::BirthdayInDays { days_before: 0 },
        &event
    ));
    assert!(!matches(&Trigger::FollowUpDue { days_before: 0 }, &event));
    assert_eq!(event.customer_id(), &li());
}
