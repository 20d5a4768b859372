//! The contract's `ClassificationPolicy` ↔ the domain's classification policy and
//! follow-up rules. The contract scores a class by R+F+M (3–15), so the domain weights
//! are 1/1/1 and dish preference 0 (seed 000 §三 names it; the contract has no field yet).

use chrono::{DateTime, Utc};
use maitre_proto::{
    common::v1::CustomerClass as ProtoClass,
    profile::v1::{self as pb, RfmMethod},
};

use super::timestamp;
use crate::{
    domain::{
        classification::{
            ClassTreatment, Classification, ClassificationPolicy, CustomerClass, RfmScoring,
            ScoreWeights, ServiceLevel,
        },
        error::FieldError,
        followup::{FollowUpKind, FollowUpRule, FollowUpRules},
        rfm::{DEFAULT_DISH_SHARE_MIN_PERMILLE, RfmCutoffs},
    },
    error::{Error, Result},
};

/// Longest frequency/monetary window the contract accepts.
const MAX_WINDOW_DAYS: i32 = 3_650;

/// The policy a chain has until it sets its own.
pub fn default_policy() -> pb::ClassificationPolicy {
    let domain = ClassificationPolicy::default();
    let rule =
        |class: ProtoClass, min: i32, t: &ClassTreatment, hours: i32, kind: &str| pb::ClassRule {
            class: class as i32,
            min_total_score: min,
            reception_strategy: t.reception_strategy.clone(),
            service_level: service_level_name(t.service_level).into(),
            follow_up_within_hours: hours,
            follow_up_kind: kind.into(),
        };
    pb::ClassificationPolicy {
        method: RfmMethod::Quintiles as i32,
        window_days: 365,
        thresholds: Some(pb::RfmThresholds {
            recency_days: vec![7, 30, 90, 180],
            frequency_visits: vec![2, 4, 8, 12],
            monetary_fen: vec![50_000, 200_000, 500_000, 1_000_000],
        }),
        classes: vec![
            // Seed 000 §四's example: A-class guests get a call within 2 days of a visit.
            rule(ProtoClass::A, 12, &domain.class_a, 48, "call"),
            rule(ProtoClass::B, 8, &domain.class_b, 7 * 24, "wechat"),
            rule(ProtoClass::C, 0, &domain.class_c, 0, ""),
        ],
    }
}

/// The contract's name of a service level.
pub fn service_level_name(level: ServiceLevel) -> &'static str {
    match level {
        ServiceLevel::Vip => "vip",
        ServiceLevel::Priority => "priority",
        ServiceLevel::Standard => "standard",
    }
}

fn service_level(field: &str, name: &str, default: ServiceLevel) -> Result<ServiceLevel> {
    match name.trim().to_ascii_lowercase().as_str() {
        "" => Ok(default),
        "vip" => Ok(ServiceLevel::Vip),
        "priority" => Ok(ServiceLevel::Priority),
        "standard" => Ok(ServiceLevel::Standard),
        _ => Err(Error::invalid(field, "must be vip, priority or standard")),
    }
}

/// A follow-up kind by name ("call", "wechat", "visit").
pub fn follow_up_kind(name: &str) -> Option<FollowUpKind> {
    match name.trim().to_ascii_lowercase().as_str() {
        "call" => Some(FollowUpKind::Call),
        "wechat" => Some(FollowUpKind::Wechat),
        "visit" => Some(FollowUpKind::Visit),
        "note" => Some(FollowUpKind::Note),
        _ => None,
    }
}

/// The contract's class of a domain class.
pub fn proto_class(class: CustomerClass) -> ProtoClass {
    match class {
        CustomerClass::A => ProtoClass::A,
        CustomerClass::B => ProtoClass::B,
        CustomerClass::C => ProtoClass::C,
    }
}

/// The domain class of a contract class number, if it names one.
pub fn domain_class(class: i32) -> Option<CustomerClass> {
    match ProtoClass::try_from(class).ok()? {
        ProtoClass::A => Some(CustomerClass::A),
        ProtoClass::B => Some(CustomerClass::B),
        ProtoClass::C => Some(CustomerClass::C),
        ProtoClass::Unspecified => None,
    }
}

fn four<T: Copy>(field: &str, values: &[T]) -> Result<[T; 4]> {
    <[T; 4]>::try_from(values).map_err(|_| Error::invalid(field, "exactly 4 values are required"))
}

/// The domain policy and follow-up rules of a contract policy, validated.
pub fn to_domain(p: &pb::ClassificationPolicy) -> Result<(ClassificationPolicy, FollowUpRules)> {
    if p.window_days < 0 || p.window_days > MAX_WINDOW_DAYS {
        return Err(Error::invalid(
            "policy.window_days",
            "must be 0..=3650 (0 = 365)",
        ));
    }
    let scoring = match RfmMethod::try_from(p.method) {
        Ok(RfmMethod::Quintiles) | Ok(RfmMethod::Unspecified) => RfmScoring::Quintiles {
            dish_share_min_permille: DEFAULT_DISH_SHARE_MIN_PERMILLE,
        },
        Ok(RfmMethod::Thresholds) => {
            let t = p
                .thresholds
                .as_ref()
                .ok_or_else(|| Error::invalid("policy.thresholds", "is required for thresholds"))?;
            let recency: Vec<i64> = t.recency_days.iter().map(|d| i64::from(*d)).collect();
            let frequency: Vec<u64> = t
                .frequency_visits
                .iter()
                .map(|v| u64::try_from(*v).unwrap_or(0))
                .collect();
            RfmScoring::Fixed(RfmCutoffs {
                recency_max_days: four("policy.thresholds.recency_days", &recency)?,
                frequency_min_visits: four("policy.thresholds.frequency_visits", &frequency)?,
                monetary_min_fen: four("policy.thresholds.monetary_fen", &t.monetary_fen)?,
                dish_share_min_permille: DEFAULT_DISH_SHARE_MIN_PERMILLE,
            })
        }
        Err(_) => return Err(Error::invalid("policy.method", "unknown method")),
    };
    let defaults = ClassificationPolicy::default();
    let mut treatments = [None, None, None];
    let mut mins = [0u64; 3];
    let mut class_slots = [0usize; 3];
    let mut rules = Vec::new();
    for (i, rule) in p.classes.iter().enumerate() {
        let field = |name: &str| format!("policy.classes[{i}].{name}");
        let class = domain_class(rule.class)
            .ok_or_else(|| Error::invalid(field("class"), "must be A, B or C"))?;
        let slot = class as usize;
        if treatments[slot].is_some() {
            return Err(Error::invalid(field("class"), "each class may appear once"));
        }
        class_slots[slot] = i;
        mins[slot] = u64::try_from(rule.min_total_score)
            .map_err(|_| Error::invalid(field("min_total_score"), "must not be negative"))?;
        let default_level = defaults.treatment(class).service_level;
        treatments[slot] = Some(ClassTreatment {
            reception_strategy: rule.reception_strategy.clone(),
            service_level: service_level(
                &field("service_level"),
                &rule.service_level,
                default_level,
            )?,
        });
        if rule.follow_up_within_hours < 0 {
            return Err(Error::invalid(
                field("follow_up_within_hours"),
                "must not be negative",
            ));
        }
        if rule.follow_up_within_hours > 0 {
            let kind = follow_up_kind(&rule.follow_up_kind).ok_or_else(|| {
                Error::invalid(field("follow_up_kind"), "must be call, wechat or visit")
            })?;
            rules.push(FollowUpRule {
                class,
                kind,
                due_within_hours: u32::try_from(rule.follow_up_within_hours).unwrap_or(u32::MAX),
                purpose: format!(
                    "{}类客户到店后回访",
                    proto_class(class)
                        .as_str_name()
                        .trim_start_matches("CUSTOMER_CLASS_")
                ),
            });
        }
    }
    let [Some(class_a), Some(class_b), Some(class_c)] = treatments else {
        return Err(Error::invalid(
            "policy.classes",
            "rules for A, B and C are required",
        ));
    };
    let policy = ClassificationPolicy {
        scoring,
        weights: ScoreWeights {
            recency: 1,
            frequency: 1,
            monetary: 1,
            dish_preference: 0,
        },
        class_a_min_points: mins[CustomerClass::A as usize],
        class_b_min_points: mins[CustomerClass::B as usize],
        class_a,
        class_b,
        class_c,
    };
    policy
        .validate()
        .map_err(|e| contract_error(&e, &class_slots))?;
    let rules = FollowUpRules(rules);
    rules.validate().map_err(|e| Error::field("policy.", &e))?;
    Ok((policy, rules))
}

/// A domain policy error named by the contract's field: the domain speaks of the A and B
/// cut-off points and of fixed cut-offs, the caller sent `policy.classes[i]` and
/// `policy.thresholds` (`class_slots`: the index in `policy.classes` of A, B and C).
fn contract_error(error: &FieldError, class_slots: &[usize; 3]) -> Error {
    let class = |c: CustomerClass, name: &str| {
        format!("policy.classes[{}].{name}", class_slots[c as usize])
    };
    let field = match error.field() {
        "class_a_min_points" => class(CustomerClass::A, "min_total_score"),
        "class_b_min_points" => class(CustomerClass::B, "min_total_score"),
        "class_a.reception_strategy" => class(CustomerClass::A, "reception_strategy"),
        "class_b.reception_strategy" => class(CustomerClass::B, "reception_strategy"),
        "class_c.reception_strategy" => class(CustomerClass::C, "reception_strategy"),
        "scoring.fixed.recency_max_days" => "policy.thresholds.recency_days".to_owned(),
        "scoring.fixed.frequency_min_visits" => "policy.thresholds.frequency_visits".to_owned(),
        "scoring.fixed.monetary_min_fen" => "policy.thresholds.monetary_fen".to_owned(),
        "scoring.fixed" => "policy.thresholds".to_owned(),
        other => format!("policy.{other}"),
    };
    let message = error.to_string();
    // The domain message starts with its own field name; keep only the reason, and speak
    // of the contract's names in it too.
    let reason = message
        .split_once(": ")
        .map_or(message.as_str(), |(_, reason)| reason)
        .replace("class_a_min_points", "class A's min_total_score");
    Error::invalid(field, reason)
}

/// The contract's classification of a domain one computed at `at`.
pub fn classification(c: &Classification, at: DateTime<Utc>) -> pb::Classification {
    pb::Classification {
        recency_score: i32::from(c.scores.recency),
        frequency_score: i32::from(c.scores.frequency),
        monetary_score: i32::from(c.scores.monetary),
        class: proto_class(c.class) as i32,
        reception_strategy: c.treatment.reception_strategy.clone(),
        service_level: service_level_name(c.treatment.service_level).into(),
        compute_time: Some(timestamp(at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_valid_and_plans_a_call_for_class_a() {
        let (policy, rules) = to_domain(&default_policy()).unwrap();
        assert_eq!(policy.class_a_min_points, 12);
        assert_eq!(rules.0[0].class, CustomerClass::A);
        assert_eq!(rules.0[0].kind, FollowUpKind::Call);
        assert_eq!(rules.0[0].due_within_hours, 48);
    }

    #[test]
    fn bad_policies_name_their_field() {
        let mut p = default_policy();
        p.classes.pop();
        let Err(Error::InvalidArgument { field, .. }) = to_domain(&p) else {
            panic!("C is missing")
        };
        assert_eq!(field, "policy.classes");
        let mut p = default_policy();
        p.method = RfmMethod::Thresholds as i32;
        if let Some(t) = p.thresholds.as_mut() {
            t.recency_days.pop();
        }
        let Err(Error::InvalidArgument { field, .. }) = to_domain(&p) else {
            panic!("three recency values")
        };
        assert_eq!(field, "policy.thresholds.recency_days");
        let mut p = default_policy();
        p.classes[1].min_total_score = 20;
        assert!(to_domain(&p).is_err(), "B above A");
    }

    /// The domain's cut-off points are the contract's `classes[i].min_total_score`, at the
    /// index the caller sent each class at, and fixed cut-offs are its `thresholds`.
    #[test]
    fn policy_rules_name_the_contracts_fields() {
        let mut p = default_policy();
        p.classes.reverse();
        let b = p
            .classes
            .iter()
            .position(|r| r.class == ProtoClass::B as i32)
            .expect("B");
        let a_min = p
            .classes
            .iter()
            .find(|r| r.class == ProtoClass::A as i32)
            .expect("A")
            .min_total_score;
        p.classes[b].min_total_score = a_min;
        let Err(Error::InvalidArgument { field, message }) = to_domain(&p) else {
            panic!("B at A's score")
        };
        assert_eq!(field, format!("policy.classes[{b}].min_total_score"));
        assert!(!message.contains("class_a_min_points"), "{message}");
        let mut p = default_policy();
        p.method = RfmMethod::Thresholds as i32;
        if let Some(t) = p.thresholds.as_mut() {
            t.monetary_fen.reverse();
        }
        let Err(Error::InvalidArgument { field, .. }) = to_domain(&p) else {
            panic!("descending monetary cut-offs")
        };
        assert_eq!(field, "policy.thresholds.monetary_fen");
    }
}
