use super::super::automation::CouponOffer;
use super::super::channel::CustomerClass;
use super::super::template::{Locale, TemplateDraft};
use super::*;

fn valid() -> Automation {
    Automation {
        name: "生日甜品券".into(),
        trigger: Trigger::BirthdayInDays { days_before: 0 },
        conditions: vec![Condition::HasTags {
            tags: vec!["likes_dessert".into()],
        }],
        actions: vec![
            Action::MessageCustomer {
                channel: Channel::Sms,
                template_id: "tpl-birthday".into(),
                purpose: MessagePurpose::Marketing,
                coupon: Some(CouponOffer {
                    coupon_batch_id: "dessert".into(),
                    valid_days: 7,
                }),
            },
            Action::CallWebhook {
                url: "https://hooks.example.com/maitre".into(),
            },
        ],
        enabled: true,
    }
}

fn errors(automation: &Automation) -> Vec<AutomationFieldError> {
    validate_automation(automation)
        .err()
        .map(|invalid| invalid.errors)
        .unwrap_or_default()
}

#[test]
fn valid_automation_passes() {
    assert_eq!(validate_automation(&valid()), Ok(()));
}

#[test]
fn webhook_url_must_be_http_or_https_without_credentials() {
    let with_url = |url: &str| Automation {
        actions: vec![Action::CallWebhook { url: url.into() }],
        ..valid()
    };
    assert_eq!(
        errors(&with_url("ftp://files.example.com/x")),
        vec![AutomationFieldError::WebhookSchemeNotHttp {
            field: "actions[0].webhook_url".into(),
            scheme: "ftp".into()
        }]
    );
    assert!(matches!(
        errors(&with_url("not a url")).as_slice(),
        [AutomationFieldError::WebhookUrlInvalid { field, .. }] if field == "actions[0].webhook_url"
    ));
    assert_eq!(
        errors(&with_url("https://user:pw@hooks.example.com/")),
        vec![AutomationFieldError::WebhookUrlHasCredentials {
            field: "actions[0].webhook_url".into()
        }]
    );
    assert!(errors(&with_url("http://10.0.0.5:8080/hook")).is_empty());
}

#[test]
fn every_problem_is_reported_with_its_field() {
    let automation = Automation {
        name: " ".into(),
        trigger: Trigger::BirthdayInDays { days_before: 400 },
        conditions: vec![
            Condition::HasTags {
                tags: vec!["Likes Dessert".into()],
            },
            Condition::ClassIn { classes: vec![] },
        ],
        actions: vec![Action::MessageCustomer {
            channel: Channel::StaffInbox,
            template_id: String::new(),
            purpose: MessagePurpose::Service,
            coupon: Some(CouponOffer {
                coupon_batch_id: "dessert".into(),
                valid_days: 0,
            }),
        }],
        enabled: false,
    };
    let fields: Vec<String> = errors(&automation)
        .iter()
        .map(|error| {
            error
                .to_string()
                .split(':')
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        fields,
        [
            "name",
            "trigger.days_before",
            "conditions[0].tags[0]",
            "conditions[1].classes",
            "actions[0].channel",
            "actions[0].template_id",
            "actions[0].purpose",
            "actions[0].coupon.valid_days",
        ]
    );
}

#[test]
fn no_actions_is_rejected() {
    let automation = Automation {
        actions: vec![],
        ..valid()
    };
    assert_eq!(
        errors(&automation),
        vec![AutomationFieldError::Empty {
            field: "actions".into()
        }]
    );
}

#[test]
fn contradictory_tags_are_rejected() {
    let automation = Automation {
        conditions: vec![
            Condition::HasTags {
                tags: vec!["vip".into()],
            },
            Condition::LacksTags {
                tags: vec!["vip".into(), "churned".into()],
            },
            Condition::ClassIn {
                classes: vec![CustomerClass::A],
            },
        ],
        ..valid()
    };
    assert_eq!(
        errors(&automation),
        vec![AutomationFieldError::ContradictoryTag {
            field: "conditions[1].tags".into(),
            tag: "vip".into()
        }]
    );
}

#[test]
fn overdue_needs_at_least_one_day() {
    let automation = Automation {
        trigger: Trigger::FollowUpOverdue { days_overdue: 0 },
        ..valid()
    };
    assert_eq!(
        errors(&automation),
        vec![AutomationFieldError::OutOfRange {
            field: "trigger.days_before".into(),
            value: 0,
            min: 1,
            max: 60
        }]
    );
}

#[test]
fn action_template_must_match_channel_and_coupon() {
    let template = Template::compile(&TemplateDraft {
        channel: Channel::Wechat,
        locale: Locale::ZhCn,
        subject: None,
        body: "{{customer.salutation}}，您的券码{{coupon.code}}".into(),
    })
    .expect("valid template");
    let action = Action::MessageCustomer {
        channel: Channel::Sms,
        template_id: "tpl".into(),
        purpose: MessagePurpose::Marketing,
        coupon: None,
    };
    assert_eq!(
        validate_action_template("actions[0]", &action, &template),
        Err(vec![
            AutomationFieldError::TemplateChannelMismatch {
                field: "actions[0].template_id".into(),
                template_channel: Channel::Wechat,
                action_channel: Channel::Sms,
            },
            AutomationFieldError::CouponVariableWithoutCoupon {
                field: "actions[0].template_id".into(),
                variable: "coupon.code",
            },
        ])
    );
    let matching = Action::MessageCustomer {
        channel: Channel::Wechat,
        template_id: "tpl".into(),
        purpose: MessagePurpose::Marketing,
        coupon: Some(CouponOffer {
            coupon_batch_id: "b".into(),
            valid_days: 3,
        }),
    };
    assert_eq!(
        validate_action_template("actions[0]", &matching, &template),
        Ok(())
    );
}
