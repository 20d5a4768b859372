//! Save-time validation of automations: every problem is reported with the field path it concerns
//! (`trigger.days_before`, `actions[1].webhook_url`) so the HQ console can point at it.

use url::Url;

use super::automation::{Action, Automation, Condition, Trigger};
use super::channel::{Channel, MessagePurpose};
use super::error::{AutomationFieldError, AutomationInvalid};
use super::template::Template;

pub const MAX_NAME_CHARS: usize = 80;
pub const MAX_ID_CHARS: usize = 64;
pub const MAX_ACTIONS: usize = 10;
pub const MAX_CONDITIONS: usize = 20;
pub const MAX_TAGS_PER_CONDITION: usize = 20;
/// "Birthday in N days": reminders further ahead than two months are noise.
pub const MAX_DATE_LEAD_DAYS: u16 = 60;
pub const MAX_FOLLOW_UP_DAYS: u16 = 365;
pub const MAX_COUPON_VALID_DAYS: u16 = 365;
pub const MAX_NOTE_CHARS: usize = 500;
pub const MAX_URL_CHARS: usize = 2048;

/// Checks an automation; `Err` lists every problem found.
pub fn validate_automation(automation: &Automation) -> Result<(), AutomationInvalid> {
    let mut errors = Vec::new();
    check_text(&mut errors, "name", &automation.name, MAX_NAME_CHARS);
    check_trigger(&mut errors, &automation.trigger);
    if automation.conditions.len() > MAX_CONDITIONS {
        errors.push(out_of_range(
            "conditions",
            automation.conditions.len(),
            0,
            MAX_CONDITIONS,
        ));
    }
    for (index, condition) in automation.conditions.iter().enumerate() {
        check_condition(&mut errors, &format!("conditions[{index}]"), condition);
    }
    check_contradictions(&mut errors, &automation.conditions);
    if automation.actions.is_empty() {
        errors.push(AutomationFieldError::Empty {
            field: "actions".into(),
        });
    } else if automation.actions.len() > MAX_ACTIONS {
        errors.push(out_of_range(
            "actions",
            automation.actions.len(),
            1,
            MAX_ACTIONS,
        ));
    }
    for (index, action) in automation.actions.iter().enumerate() {
        check_action(&mut errors, &format!("actions[{index}]"), action);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AutomationInvalid { errors })
    }
}

/// Checks a message or reminder action against the template it names: same channel, and coupon
/// variables without a default only when the action attaches a coupon.
pub fn validate_action_template(
    field: &str,
    action: &Action,
    template: &Template,
) -> Result<(), Vec<AutomationFieldError>> {
    let (channel, has_coupon) = match action {
        Action::MessageCustomer {
            channel, coupon, ..
        } => (*channel, coupon.is_some()),
        Action::RemindOwner { .. } => (Channel::StaffInbox, false),
        Action::CreateFollowUpPlan { .. } | Action::CallWebhook { .. } => return Ok(()),
    };
    let mut errors = Vec::new();
    let field = format!("{field}.template_id");
    if template.channel != channel {
        errors.push(AutomationFieldError::TemplateChannelMismatch {
            field: field.clone(),
            template_channel: template.channel,
            action_channel: channel,
        });
    }
    if !has_coupon {
        for variable in template
            .required_variables()
            .into_iter()
            .filter(|variable| variable.needs_coupon())
        {
            errors.push(AutomationFieldError::CouponVariableWithoutCoupon {
                field: field.clone(),
                variable: variable.path(),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn check_trigger(errors: &mut Vec<AutomationFieldError>, trigger: &Trigger) {
    match trigger {
        Trigger::TagAdded { tag } | Trigger::TagRemoved { tag } => {
            check_tag_key(errors, "trigger.tag", tag)
        }
        Trigger::SegmentEntered { segment_id } => {
            check_text(errors, "trigger.segment_id", segment_id, MAX_ID_CHARS)
        }
        Trigger::BirthdayInDays { days_before } => check_days(
            errors,
            "trigger.days_before",
            *days_before,
            0,
            MAX_DATE_LEAD_DAYS,
        ),
        Trigger::AnniversaryInDays { days_before, name } => {
            check_days(
                errors,
                "trigger.days_before",
                *days_before,
                0,
                MAX_DATE_LEAD_DAYS,
            );
            if let Some(name) = name {
                check_text(errors, "trigger.name", name, MAX_NAME_CHARS);
            }
        }
        Trigger::OwnerChanged => {}
        Trigger::FollowUpDue { days_before } => check_days(
            errors,
            "trigger.days_before",
            *days_before,
            0,
            MAX_DATE_LEAD_DAYS,
        ),
        Trigger::FollowUpOverdue { days_overdue } => {
            // The contract's field: an overdue trigger's days travel in `days_before`.
            check_days(
                errors,
                "trigger.days_before",
                *days_overdue,
                1,
                MAX_DATE_LEAD_DAYS,
            );
        }
    }
}

fn check_condition(errors: &mut Vec<AutomationFieldError>, field: &str, condition: &Condition) {
    match condition {
        Condition::HasTags { tags } | Condition::LacksTags { tags } => {
            let field = format!("{field}.tags");
            if tags.is_empty() {
                errors.push(AutomationFieldError::Empty {
                    field: field.clone(),
                });
            } else if tags.len() > MAX_TAGS_PER_CONDITION {
                errors.push(out_of_range(&field, tags.len(), 1, MAX_TAGS_PER_CONDITION));
            }
            for (index, tag) in tags.iter().enumerate() {
                check_tag_key(errors, &format!("{field}[{index}]"), tag);
            }
        }
        Condition::ClassIn { classes } if classes.is_empty() => {
            errors.push(AutomationFieldError::Empty {
                field: format!("{field}.classes"),
            });
        }
        Condition::ClassIn { .. } => {}
        Condition::ConsentFor {
            channel: Channel::StaffInbox,
        } => {
            errors.push(AutomationFieldError::StaffInboxForCustomer {
                field: format!("{field}.channel"),
            });
        }
        Condition::ConsentFor { .. } => {}
    }
}

/// A tag both required and excluded makes the automation unable to fire.
fn check_contradictions(errors: &mut Vec<AutomationFieldError>, conditions: &[Condition]) {
    let required: Vec<&String> = conditions
        .iter()
        .filter_map(|c| {
            if let Condition::HasTags { tags } = c {
                Some(tags)
            } else {
                None
            }
        })
        .flatten()
        .collect();
    for (index, condition) in conditions.iter().enumerate() {
        if let Condition::LacksTags { tags } = condition {
            for tag in tags.iter().filter(|tag| required.contains(tag)) {
                errors.push(AutomationFieldError::ContradictoryTag {
                    field: format!("conditions[{index}].tags"),
                    tag: tag.clone(),
                });
            }
        }
    }
}

fn check_action(errors: &mut Vec<AutomationFieldError>, field: &str, action: &Action) {
    match action {
        Action::MessageCustomer {
            channel,
            template_id,
            purpose,
            coupon,
        } => {
            if *channel == Channel::StaffInbox {
                errors.push(AutomationFieldError::StaffInboxForCustomer {
                    field: format!("{field}.channel"),
                });
            }
            check_text(
                errors,
                &format!("{field}.template_id"),
                template_id,
                MAX_ID_CHARS,
            );
            if let Some(coupon) = coupon {
                if *purpose != MessagePurpose::Marketing {
                    errors.push(AutomationFieldError::CouponNeedsMarketingPurpose {
                        field: format!("{field}.purpose"),
                    });
                }
                check_text(
                    errors,
                    &format!("{field}.coupon.coupon_batch_id"),
                    &coupon.coupon_batch_id,
                    MAX_ID_CHARS,
                );
                check_days(
                    errors,
                    &format!("{field}.coupon.valid_days"),
                    coupon.valid_days,
                    1,
                    MAX_COUPON_VALID_DAYS,
                );
            }
        }
        Action::RemindOwner { template_id } => check_text(
            errors,
            &format!("{field}.template_id"),
            template_id,
            MAX_ID_CHARS,
        ),
        Action::CreateFollowUpPlan { due_in_days, note } => {
            check_days(
                errors,
                &format!("{field}.due_in_days"),
                *due_in_days,
                0,
                MAX_FOLLOW_UP_DAYS,
            );
            // The contract calls the note `title` (`Action.title`).
            check_text(errors, &format!("{field}.title"), note, MAX_NOTE_CHARS);
        }
        Action::CallWebhook { url } => {
            check_webhook_url(errors, &format!("{field}.webhook_url"), url)
        }
    }
}

/// Webhook targets must be absolute http(s) URLs with a host and no embedded credentials (the request is
/// authenticated by its signature, and credentials in URLs leak into logs).
fn check_webhook_url(errors: &mut Vec<AutomationFieldError>, field: &str, url: &str) {
    let chars = url.chars().count();
    if chars > MAX_URL_CHARS {
        errors.push(AutomationFieldError::TooLong {
            field: field.into(),
            chars,
            max_chars: MAX_URL_CHARS,
        });
        return;
    }
    let invalid = |reason: String| AutomationFieldError::WebhookUrlInvalid {
        field: field.into(),
        url: url.into(),
        reason,
    };
    let parsed = match Url::parse(url.trim()) {
        Ok(parsed) => parsed,
        Err(error) => return errors.push(invalid(error.to_string())),
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return errors.push(AutomationFieldError::WebhookSchemeNotHttp {
            field: field.into(),
            scheme: parsed.scheme().into(),
        });
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return errors.push(invalid("missing host".into()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        errors.push(AutomationFieldError::WebhookUrlHasCredentials {
            field: field.into(),
        });
    }
}

fn check_text(errors: &mut Vec<AutomationFieldError>, field: &str, value: &str, max_chars: usize) {
    let chars = value.chars().count();
    if value.trim().is_empty() {
        errors.push(AutomationFieldError::Empty {
            field: field.into(),
        });
    } else if chars > max_chars {
        errors.push(AutomationFieldError::TooLong {
            field: field.into(),
            chars,
            max_chars,
        });
    }
}

/// Tag keys as the tagging service defines them: lowercase ASCII letters, digits and `_`.
fn check_tag_key(errors: &mut Vec<AutomationFieldError>, field: &str, tag: &str) {
    let valid = !tag.is_empty()
        && tag.len() <= MAX_ID_CHARS
        && tag
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        errors.push(AutomationFieldError::InvalidTagKey {
            field: field.into(),
            value: tag.into(),
        });
    }
}

fn check_days(errors: &mut Vec<AutomationFieldError>, field: &str, value: u16, min: u16, max: u16) {
    if !(min..=max).contains(&value) {
        errors.push(AutomationFieldError::OutOfRange {
            field: field.into(),
            value: i64::from(value),
            min: i64::from(min),
            max: i64::from(max),
        });
    }
}

fn out_of_range(field: &str, value: usize, min: usize, max: usize) -> AutomationFieldError {
    let to_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    AutomationFieldError::OutOfRange {
        field: field.into(),
        value: to_i64(value),
        min: to_i64(min),
        max: to_i64(max),
    }
}

#[cfg(test)]
#[path = "automation_validate_tests.rs"]
mod tests;
