//! Follow-ups (跟进): records of contact and plans generated from rules.
//!
//! Seed 000 §四: managers record every interaction and "the system generates
//! follow-up plan reminders automatically". Plans come from a per-class rule
//! (class A: call within 2 days of a visit) via [`plans_after_visit`]; their
//! status at any moment is [`plan_status`]. Storing plans and reminding
//! managers belong to the service and notification layers.

use chrono::{DateTime, Duration, Utc};

use super::{
    classification::CustomerClass,
    error::{FieldError, FieldErrors, check_max_chars},
    ids::StaffId,
};

const MAX_CONTENT_CHARS: usize = 2_000;
const MAX_PURPOSE_CHARS: usize = 200;
/// Longest delay a rule may set: a plan three months out is no follow-up.
const MAX_DUE_WITHIN_HOURS: u32 = 90 * 24;
/// Clock skew allowed on a record's time, as for events.
const FUTURE_TOLERANCE: Duration = Duration::minutes(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FollowUpKind {
    Call,
    Wechat,
    Visit,
    Note,
}

/// One interaction a manager recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUpRecord {
    pub kind: FollowUpKind,
    pub staff_id: StaffId,
    pub happened_at: DateTime<Utc>,
    pub content: String,
}

/// Checks a record as of `now`, naming every bad field.
pub fn validate_record(record: &FollowUpRecord, now: DateTime<Utc>) -> Result<(), FieldErrors> {
    let mut errors = Vec::new();
    if record.staff_id.as_str().trim().is_empty() {
        errors.push(FieldError::Missing {
            field: "staff_id".into(),
        });
    }
    if record.content.trim().is_empty() {
        errors.push(FieldError::Missing {
            field: "content".into(),
        });
    }
    errors.extend(check_max_chars("content", &record.content, MAX_CONTENT_CHARS).err());
    let ahead = record.happened_at - now;
    if ahead > FUTURE_TOLERANCE {
        errors.push(FieldError::InFuture {
            field: "happened_at".into(),
            ahead_ms: ahead.num_milliseconds(),
            tolerance_ms: FUTURE_TOLERANCE.num_milliseconds(),
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(FieldErrors(errors))
    }
}

/// "Guests of `class` get a `kind` follow-up within `due_within_hours` of a visit."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUpRule {
    pub class: CustomerClass,
    pub kind: FollowUpKind,
    pub due_within_hours: u32,
    pub purpose: String,
}

/// A chain's follow-up rules; several may apply to one class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUpRules(pub Vec<FollowUpRule>);

impl Default for FollowUpRules {
    /// Class A: call within 2 days; class B: WeChat message within 7 days;
    /// class C: no automatic plan.
    fn default() -> Self {
        Self(vec![
            FollowUpRule {
                class: CustomerClass::A,
                kind: FollowUpKind::Call,
                due_within_hours: 48,
                purpose: "电话回访:感谢光临,了解用餐体验".into(),
            },
            FollowUpRule {
                class: CustomerClass::B,
                kind: FollowUpKind::Wechat,
                due_within_hours: 7 * 24,
                purpose: "微信回访".into(),
            },
        ])
    }
}

impl FollowUpRules {
    /// Checks every rule; the error names `rules[i].<field>`.
    pub fn validate(&self) -> Result<(), FieldError> {
        for (index, rule) in self.0.iter().enumerate() {
            let field = |name: &str| format!("rules[{index}].{name}");
            if rule.kind == FollowUpKind::Note {
                // A note records something; it is not an action to plan.
                return Err(FieldError::invalid(
                    field("kind"),
                    "a note cannot be planned",
                ));
            }
            if rule.due_within_hours == 0 || rule.due_within_hours > MAX_DUE_WITHIN_HOURS {
                return Err(FieldError::OutOfRange {
                    field: field("due_within_hours"),
                    value: i64::from(rule.due_within_hours),
                    min: 1,
                    max: i64::from(MAX_DUE_WITHIN_HOURS),
                });
            }
            if rule.purpose.trim().is_empty() {
                return Err(FieldError::Missing {
                    field: field("purpose"),
                });
            }
            check_max_chars(&field("purpose"), &rule.purpose, MAX_PURPOSE_CHARS)?;
        }
        Ok(())
    }
}

/// A plan to be stored and assigned to the customer's manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanDraft {
    pub kind: FollowUpKind,
    pub due_at: DateTime<Utc>,
    pub purpose: String,
}

/// The plans a visit at `visit_time` triggers for a guest of `class`.
pub fn plans_after_visit(
    class: CustomerClass,
    visit_time: DateTime<Utc>,
    rules: &FollowUpRules,
) -> Vec<PlanDraft> {
    rules
        .0
        .iter()
        .filter(|rule| rule.class == class)
        .filter_map(|rule| {
            let due_at =
                visit_time.checked_add_signed(Duration::hours(i64::from(rule.due_within_hours)))?;
            Some(PlanDraft {
                kind: rule.kind,
                due_at,
                purpose: rule.purpose.clone(),
            })
        })
        .collect()
}

/// A plan a person made.
pub const SOURCE_MANUAL: &str = "manual";
/// A plan the chain's follow-up rule made after a visit.
pub const SOURCE_CLASS_RULE: &str = "class_rule";
/// Prefix of a plan an automation made: `automation:<automation id>`.
pub const SOURCE_AUTOMATION_PREFIX: &str = "automation:";
const MAX_SOURCE_CHARS: usize = 200;

/// The source a caller may give a new plan: people make manual plans only; the service identity
/// (notification's automations) says which automation made it. Empty means manual.
pub fn plan_source(given: &str, is_service: bool) -> Result<String, FieldError> {
    let given = given.trim();
    if given.is_empty() || given == SOURCE_MANUAL {
        return Ok(SOURCE_MANUAL.to_owned());
    }
    let automation = given
        .strip_prefix(SOURCE_AUTOMATION_PREFIX)
        .filter(|id| !id.trim().is_empty());
    match automation {
        Some(_) if is_service => {
            check_max_chars("plan.source", given, MAX_SOURCE_CHARS)?;
            Ok(given.to_owned())
        }
        Some(_) => Err(FieldError::invalid(
            "plan.source",
            "only the service identity creates plans for an automation; people create manual plans",
        )),
        None => Err(FieldError::invalid(
            "plan.source",
            "must be \"manual\" or \"automation:<automation id>\"",
        )),
    }
}

/// Whether a new plan from `source` supersedes the guest's open plans from the same source: a
/// later visit's class-rule plans replace an earlier visit's (also across a class change, so no
/// stale B-class plan stays open after the upgrade to A), and an automation's new plan replaces its
/// earlier open one. A person's plans never do: a manager may plan several things at once.
pub fn supersedes_open_plans(source: &str) -> bool {
    source == SOURCE_CLASS_RULE || source.starts_with(SOURCE_AUTOMATION_PREFIX)
}

/// Where a new plan comes from, as far as supersession cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOrigin<'a> {
    pub customer_id: &'a str,
    pub source: &'a str,
    /// What made it: plans of one occasion (e.g. the plans one visit's rules make) stand together
    /// and do not supersede each other.
    pub occasion: &'a str,
}

/// How a batch of new plans (in the order they were made) supersede each other and the open plans
/// stored before them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Supersession {
    /// For each new plan, the index of the new plan that supersedes it at once (a later occasion
    /// of the same customer and source in the same batch).
    pub superseded_by: Vec<Option<usize>>,
    /// Per customer and source, the index of the plan that supersedes the stored open plans of
    /// other occasions (the first plan of the latest occasion).
    pub survivors: Vec<usize>,
}

/// The supersession of a batch of new plans (see [`supersedes_open_plans`]).
pub fn supersession(plans: &[PlanOrigin<'_>]) -> Supersession {
    use std::collections::BTreeMap;
    // (customer, source) → index of the first plan of the latest occasion.
    let mut latest: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (index, plan) in plans.iter().enumerate() {
        if !supersedes_open_plans(plan.source) {
            continue;
        }
        let key = (plan.customer_id, plan.source);
        match latest.get(&key) {
            Some(&first) if plans[first].occasion == plan.occasion => {}
            _ => {
                latest.insert(key, index);
            }
        }
    }
    let superseded_by = plans
        .iter()
        .map(|plan| {
            let &survivor = latest.get(&(plan.customer_id, plan.source))?;
            (plans[survivor].occasion != plan.occasion).then_some(survivor)
        })
        .collect();
    let mut survivors: Vec<usize> = latest.into_values().collect();
    survivors.sort_unstable();
    Supersession {
        superseded_by,
        survivors,
    }
}

/// Where a plan stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanStatus {
    /// Not due yet and not inside the reminder window.
    Upcoming,
    /// Inside the reminder window before the due time.
    DueSoon,
    Overdue,
    Completed {
        on_time: bool,
    },
}

/// Status at `now` of a plan due at `due_at`, completed at `completed_at`
/// if at all; `due_soon_window` is how early the reminder starts.
pub fn plan_status(
    due_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    due_soon_window: Duration,
) -> PlanStatus {
    if let Some(done) = completed_at {
        return PlanStatus::Completed {
            on_time: done <= due_at,
        };
    }
    if now > due_at {
        PlanStatus::Overdue
    } else if due_at - now <= due_soon_window {
        PlanStatus::DueSoon
    } else {
        PlanStatus::Upcoming
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 5, 1, 19, 30, 0).unwrap()
    }

    #[test]
    fn class_a_gets_a_call_within_two_days() {
        let plans = plans_after_visit(CustomerClass::A, t0(), &FollowUpRules::default());
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].kind, FollowUpKind::Call);
        assert_eq!(plans[0].due_at, t0() + Duration::days(2));
        assert!(plans_after_visit(CustomerClass::C, t0(), &FollowUpRules::default()).is_empty());
    }

    #[test]
    fn several_rules_for_one_class_all_apply() {
        let mut rules = FollowUpRules::default();
        rules.0.push(FollowUpRule {
            class: CustomerClass::A,
            kind: FollowUpKind::Visit,
            due_within_hours: 30 * 24,
            purpose: "上门拜访".into(),
        });
        let kinds: Vec<FollowUpKind> = plans_after_visit(CustomerClass::A, t0(), &rules)
            .iter()
            .map(|p| p.kind)
            .collect();
        assert_eq!(kinds, [FollowUpKind::Call, FollowUpKind::Visit]);
    }

    #[test]
    fn rules_are_validated_by_field() {
        assert_eq!(FollowUpRules::default().validate(), Ok(()));
        let bad = |rule: FollowUpRule| {
            FollowUpRules(vec![rule])
                .validate()
                .unwrap_err()
                .field()
                .to_owned()
        };
        let base = FollowUpRules::default().0[0].clone();
        assert_eq!(
            bad(FollowUpRule {
                kind: FollowUpKind::Note,
                ..base.clone()
            }),
            "rules[0].kind"
        );
        assert_eq!(
            bad(FollowUpRule {
                due_within_hours: 0,
                ..base.clone()
            }),
            "rules[0].due_within_hours"
        );
        assert_eq!(
            bad(FollowUpRule {
                purpose: " ".into(),
                ..base
            }),
            "rules[0].purpose"
        );
    }

    #[test]
    fn status_moves_from_upcoming_to_overdue() {
        let due = t0() + Duration::days(2);
        let window = Duration::hours(24);
        assert_eq!(plan_status(due, None, t0(), window), PlanStatus::Upcoming);
        assert_eq!(
            plan_status(due, None, due - Duration::hours(24), window),
            PlanStatus::DueSoon
        );
        assert_eq!(plan_status(due, None, due, window), PlanStatus::DueSoon);
        assert_eq!(
            plan_status(due, None, due + Duration::seconds(1), window),
            PlanStatus::Overdue
        );
        assert_eq!(
            plan_status(
                due,
                Some(due - Duration::hours(1)),
                due + Duration::days(9),
                window
            ),
            PlanStatus::Completed { on_time: true }
        );
        assert_eq!(
            plan_status(
                due,
                Some(due + Duration::hours(1)),
                due + Duration::days(9),
                window
            ),
            PlanStatus::Completed { on_time: false }
        );
    }

    fn origin<'a>(customer_id: &'a str, source: &'a str, occasion: &'a str) -> PlanOrigin<'a> {
        PlanOrigin {
            customer_id,
            source,
            occasion,
        }
    }

    #[test]
    fn the_latest_occasion_of_a_source_supersedes_the_earlier_ones() {
        let plans = [
            origin("g1", SOURCE_CLASS_RULE, "visit-1"),
            origin("g1", SOURCE_CLASS_RULE, "visit-2"),
            // One visit's two rules stand together.
            origin("g1", SOURCE_CLASS_RULE, "visit-2"),
            origin("g1", SOURCE_MANUAL, "p4"),
            origin("g1", SOURCE_MANUAL, "p5"),
            origin("g1", "automation:a1", "p6"),
            origin("g2", SOURCE_CLASS_RULE, "visit-3"),
        ];
        let outcome = supersession(&plans);
        assert_eq!(
            outcome.superseded_by,
            [Some(1), None, None, None, None, None, None]
        );
        assert_eq!(
            outcome.survivors,
            [1, 5, 6],
            "manual plans supersede nothing"
        );
    }

    #[test]
    fn only_the_service_names_an_automation_as_source() {
        assert_eq!(plan_source("", false).as_deref(), Ok("manual"));
        assert_eq!(
            plan_source("automation:a1", true).as_deref(),
            Ok("automation:a1")
        );
        assert!(plan_source("automation:a1", false).is_err());
        assert!(plan_source("class_rule", true).is_err());
        assert!(plan_source("automation:", true).is_err());
    }

    #[test]
    fn records_are_validated() {
        let record = FollowUpRecord {
            kind: FollowUpKind::Call,
            staff_id: StaffId::new("wang"),
            happened_at: t0(),
            content: "客人满意,下周生日宴".into(),
        };
        assert_eq!(validate_record(&record, t0()), Ok(()));
        let bad = FollowUpRecord {
            staff_id: StaffId::new(""),
            happened_at: t0() + Duration::hours(1),
            content: "记".repeat(2_001),
            ..record
        };
        assert_eq!(
            validate_record(&bad, t0()).unwrap_err().fields(),
            ["staff_id", "content", "happened_at"]
        );
    }
}
