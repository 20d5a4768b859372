//! The proto definition of an automation (as stored) converted to the domain's `Automation` and
//! validated with `automation_validate`; every problem names its field (`automation.actions[0].webhook_url`).

use maitre_proto::notification::v1 as pb;
use sea_orm::ConnectionTrait;

use crate::convert::channel_from_proto;
use crate::domain::automation::{Action, Automation, Condition, CouponOffer, Trigger};
use crate::domain::automation_validate::{
    MAX_FOLLOW_UP_DAYS, validate_action_template, validate_automation,
};
use crate::domain::channel::CustomerClass;
use crate::domain::error::{AutomationFieldError, AutomationInvalid};
use crate::error::{Error, Result};
use crate::storage::templates;

/// How long an automation's coupon stays valid (the contract carries only the batch).
const COUPON_VALID_DAYS: u16 = 14;

/// The field an automation problem names.
fn field_of(error: &AutomationFieldError) -> &str {
    match error {
        AutomationFieldError::Empty { field }
        | AutomationFieldError::TooLong { field, .. }
        | AutomationFieldError::OutOfRange { field, .. }
        | AutomationFieldError::InvalidTagKey { field, .. }
        | AutomationFieldError::ContradictoryTag { field, .. }
        | AutomationFieldError::WebhookUrlInvalid { field, .. }
        | AutomationFieldError::WebhookSchemeNotHttp { field, .. }
        | AutomationFieldError::WebhookUrlHasCredentials { field }
        | AutomationFieldError::StaffInboxForCustomer { field }
        | AutomationFieldError::CouponNeedsMarketingPurpose { field }
        | AutomationFieldError::TemplateChannelMismatch { field, .. }
        | AutomationFieldError::CouponVariableWithoutCoupon { field, .. } => field,
    }
}

fn invalid(errors: Vec<AutomationFieldError>) -> Error {
    let field = errors
        .first()
        .map(|e| format!("automation.{}", field_of(e)))
        .unwrap_or_else(|| "automation".into());
    Error::Domain {
        field,
        source: AutomationInvalid { errors }.into(),
    }
}

fn days(field: &str, value: i32) -> Result<u16> {
    u16::try_from(value).map_err(|_| Error::invalid(field, "must be between 0 and 60"))
}

fn trigger(proto: Option<&pb::Trigger>) -> Result<Trigger> {
    let t = proto.ok_or_else(|| Error::invalid("automation.trigger", "is required"))?;
    let d = || days("automation.trigger.days_before", t.days_before);
    Ok(match pb::TriggerKind::try_from(t.kind) {
        Ok(pb::TriggerKind::TagAdded) => Trigger::TagAdded { tag: t.tag.clone() },
        Ok(pb::TriggerKind::TagRemoved) => Trigger::TagRemoved { tag: t.tag.clone() },
        Ok(pb::TriggerKind::SegmentEntered) => Trigger::SegmentEntered {
            segment_id: t.segment_id.clone(),
        },
        Ok(pb::TriggerKind::Birthday) => Trigger::BirthdayInDays { days_before: d()? },
        Ok(pb::TriggerKind::Anniversary) => Trigger::AnniversaryInDays {
            days_before: d()?,
            name: None,
        },
        Ok(pb::TriggerKind::OwnerChanged) => Trigger::OwnerChanged,
        Ok(pb::TriggerKind::FollowUpDue) => Trigger::FollowUpDue { days_before: d()? },
        Ok(pb::TriggerKind::FollowUpOverdue) => Trigger::FollowUpOverdue { days_overdue: d()? },
        Ok(pb::TriggerKind::Visit) => {
            return Err(Error::invalid(
                "automation.trigger.kind",
                "visit triggers are not supported yet",
            ));
        }
        _ => return Err(Error::invalid("automation.trigger.kind", "is required")),
    })
}

fn class(field: &str, value: i32) -> Result<CustomerClass> {
    use maitre_proto::common::v1::CustomerClass as P;
    match P::try_from(value) {
        Ok(P::A) => Ok(CustomerClass::A),
        Ok(P::B) => Ok(CustomerClass::B),
        Ok(P::C) => Ok(CustomerClass::C),
        _ => Err(Error::invalid(field, "a customer class A, B or C")),
    }
}

fn conditions(proto: Option<&pb::Conditions>) -> Result<Vec<Condition>> {
    let Some(c) = proto else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    if !c.has_tags.is_empty() {
        out.push(Condition::HasTags {
            tags: c.has_tags.clone(),
        });
    }
    if !c.lacks_tags.is_empty() {
        out.push(Condition::LacksTags {
            tags: c.lacks_tags.clone(),
        });
    }
    if !c.classes.is_empty() {
        let classes = c
            .classes
            .iter()
            .enumerate()
            .map(|(i, v)| class(&format!("automation.conditions.classes[{i}]"), *v))
            .collect::<Result<_>>()?;
        out.push(Condition::ClassIn { classes });
    }
    if c.consent_channel != 0 {
        out.push(Condition::ConsentFor {
            channel: channel_from_proto(
                "automation.conditions.consent_channel",
                c.consent_channel,
            )?,
        });
    }
    Ok(out)
}

/// The domain automation of a proto definition; message actions take channel and purpose from their
/// template, which must exist in the chain. Validated with every template check.
pub async fn to_domain(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    proto: &pb::Automation,
) -> Result<Automation> {
    let mut actions = Vec::new();
    let mut compiled = Vec::new();
    for (index, a) in proto.actions.iter().enumerate() {
        let field = format!("automation.actions[{index}]");
        let template = |id: &str| {
            let field = format!("{field}.template_id");
            let id = id.to_owned();
            async move {
                templates::get(conn, chain_id, &id)
                    .await?
                    .ok_or_else(|| Error::invalid(field, "no such template in the chain"))
            }
        };
        let action = match pb::ActionKind::try_from(a.kind) {
            Ok(pb::ActionKind::MessageCustomer) => {
                let t = template(&a.template_id).await?;
                compiled.push((index, Some(t.compile()?)));
                Action::MessageCustomer {
                    channel: t.channel,
                    template_id: t.template_id,
                    purpose: t.purpose,
                    coupon: Some(a.coupon.clone()).filter(|c| !c.is_empty()).map(
                        |coupon_batch_id| CouponOffer {
                            coupon_batch_id,
                            valid_days: COUPON_VALID_DAYS,
                        },
                    ),
                }
            }
            Ok(pb::ActionKind::RemindOwner) => {
                let t = template(&a.template_id).await?;
                compiled.push((index, Some(t.compile()?)));
                Action::RemindOwner {
                    template_id: t.template_id,
                }
            }
            Ok(pb::ActionKind::CreateFollowUp) => {
                // The contract says hours and the domain keeps days: check the bound here,
                // in the caller's unit and field, so the error names `due_in_hours`.
                let max_hours = i32::from(MAX_FOLLOW_UP_DAYS) * 24;
                if !(0..=max_hours).contains(&a.due_in_hours) {
                    return Err(Error::invalid(
                        format!("{field}.due_in_hours"),
                        format!("{} is outside 0..={max_hours}", a.due_in_hours),
                    ));
                }
                Action::CreateFollowUpPlan {
                    due_in_days: u16::try_from(a.due_in_hours.div_euclid(24)).unwrap_or(u16::MAX),
                    note: a.title.clone(),
                }
            }
            Ok(pb::ActionKind::Webhook) => Action::CallWebhook {
                url: a.webhook_url.clone(),
            },
            _ => return Err(Error::invalid(format!("{field}.kind"), "is required")),
        };
        actions.push(action);
    }
    let automation = Automation {
        name: proto.name.trim().to_owned(),
        trigger: trigger(proto.trigger.as_ref())?,
        conditions: conditions(proto.conditions.as_ref())?,
        actions,
        enabled: proto.enabled,
    };
    validate_automation(&automation).map_err(|e| invalid(e.errors))?;
    for (index, template) in compiled {
        if let Some(template) = template {
            validate_action_template(
                &format!("actions[{index}]"),
                &automation.actions[index],
                &template,
            )
            .map_err(invalid)?;
        }
    }
    Ok(automation)
}
