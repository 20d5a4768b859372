//! Ready-to-enable automations with their zh-CN templates (shipped disabled; HQ enables them):
//! - birthday greeting with a dessert coupon for guests tagged `likes_dessert` (seed 002 §3: "喜欢甜点" →
//!   birthday wishes and a free signature dessert), plus a reminder to the owning manager 3 days ahead
//!   (seed 000 §三: the system reminds the manager when a birthday is near);
//! - 60-day win-back coupon when `lapsed_60d` is added (seed 002 §4: "超过60天未消费" → "老朋友专属" coupon);
//! - new-owner introduction when the owning manager changes (seed 000 §四: seamless hand-over);
//! - A-class follow-up reminder on the day a follow-up plan is due (seed 000 §三/§四).

use super::automation::{Action, Automation, Condition, CouponOffer, Trigger};
use super::channel::{Channel, CustomerClass, MessagePurpose};
use super::template::{Locale, TemplateDraft};

/// Tag set by the tagging service for dessert lovers.
pub const TAG_LIKES_DESSERT: &str = "likes_dessert";
/// Tag set by the tagging service rule `days_since_last_visit >= 60`.
pub const TAG_LAPSED_60D: &str = "lapsed_60d";

/// The chain's coupon batches the presets issue from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetCoupons {
    pub birthday_dessert_batch_id: String,
    pub winback_batch_id: String,
}

/// A template shipped with a preset, saved under `template_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetTemplate {
    pub template_id: &'static str,
    pub draft: TemplateDraft,
}

/// A ready automation and the templates its actions name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    pub key: &'static str,
    pub automation: Automation,
    pub templates: Vec<PresetTemplate>,
}

/// All presets, disabled, issuing from the chain's coupon batches.
pub fn all_presets(coupons: &PresetCoupons) -> Vec<Preset> {
    vec![
        birthday_dessert_greeting(coupons),
        birthday_owner_reminder(),
        winback_60d(coupons),
        new_owner_introduction(),
        a_class_follow_up_reminder(),
    ]
}

fn sms(body: &str) -> TemplateDraft {
    TemplateDraft {
        channel: Channel::Sms,
        locale: Locale::ZhCn,
        subject: None,
        body: body.into(),
    }
}

fn inbox(subject: &str, body: &str) -> TemplateDraft {
    TemplateDraft {
        channel: Channel::StaffInbox,
        locale: Locale::ZhCn,
        subject: Some(subject.into()),
        body: body.into(),
    }
}

fn has_tag(tag: &str) -> Condition {
    Condition::HasTags {
        tags: vec![tag.into()],
    }
}

pub fn birthday_dessert_greeting(coupons: &PresetCoupons) -> Preset {
    Preset {
        key: "birthday_dessert_greeting",
        automation: Automation {
            name: "生日祝福·甜品券".into(),
            trigger: Trigger::BirthdayInDays { days_before: 0 },
            conditions: vec![has_tag(TAG_LIKES_DESSERT)],
            actions: vec![Action::MessageCustomer {
                channel: Channel::Sms,
                template_id: "preset.birthday_dessert.sms".into(),
                purpose: MessagePurpose::Marketing,
                coupon: Some(CouponOffer {
                    coupon_batch_id: coupons.birthday_dessert_batch_id.clone(),
                    valid_days: 7,
                }),
            }],
            enabled: false,
        },
        templates: vec![PresetTemplate {
            template_id: "preset.birthday_dessert.sms",
            draft: sms(
                "{{customer.salutation | \"亲爱的顾客\"}}，{{store.name}}祝您生日快乐！送您一份招牌甜品券，\
                 券码{{coupon.code}}，{{coupon.expires_on}}前到店可用。回T退订",
            ),
        }],
    }
}

pub fn birthday_owner_reminder() -> Preset {
    Preset {
        key: "birthday_owner_reminder",
        automation: Automation {
            name: "生日提醒·客户经理".into(),
            trigger: Trigger::BirthdayInDays { days_before: 3 },
            conditions: vec![has_tag(TAG_LIKES_DESSERT)],
            actions: vec![Action::RemindOwner {
                template_id: "preset.birthday_owner.inbox".into(),
            }],
            enabled: false,
        },
        templates: vec![PresetTemplate {
            template_id: "preset.birthday_owner.inbox",
            draft: inbox(
                "{{customer.salutation}}{{occurrence.days_until}}天后生日",
                "{{customer.salutation}}{{occurrence.days_until}}天后过生日（{{customer.birthday}}），\
                 喜欢{{customer.favourite_category | \"甜品\"}}，最爱{{customer.favourite_dish | \"暂无记录\"}}。\
                 生日当天将为同意接收营销短信的顾客发送甜品券，建议提前问候。",
            ),
        }],
    }
}

pub fn winback_60d(coupons: &PresetCoupons) -> Preset {
    Preset {
        key: "winback_60d",
        automation: Automation {
            name: "60天未到店·老朋友专属券".into(),
            trigger: Trigger::TagAdded {
                tag: TAG_LAPSED_60D.into(),
            },
            conditions: vec![],
            actions: vec![
                Action::MessageCustomer {
                    channel: Channel::Sms,
                    template_id: "preset.winback_60d.sms".into(),
                    purpose: MessagePurpose::Marketing,
                    coupon: Some(CouponOffer {
                        coupon_batch_id: coupons.winback_batch_id.clone(),
                        valid_days: 14,
                    }),
                },
                Action::RemindOwner {
                    template_id: "preset.winback_60d.inbox".into(),
                },
            ],
            enabled: false,
        },
        templates: vec![
            PresetTemplate {
                template_id: "preset.winback_60d.sms",
                draft: sms(
                    "{{customer.salutation | \"老朋友\"}}，好久不见！{{store.name}}为您准备了老朋友专属优惠券，\
                     券码{{coupon.code}}，{{coupon.expires_on}}前有效，欢迎回来。回T退订",
                ),
            },
            PresetTemplate {
                template_id: "preset.winback_60d.inbox",
                draft: inbox(
                    "{{customer.salutation}}已60天未到店",
                    "{{customer.salutation}}已60天未到店，老朋友专属券短信已排队发送\
                     （顾客同意接收营销短信才会发出，结果以发送记录为准）。\
                     最爱{{customer.favourite_dish | \"暂无记录\"}}，可安排一次回访。",
                ),
            },
        ],
    }
}

pub fn new_owner_introduction() -> Preset {
    Preset {
        key: "new_owner_introduction",
        automation: Automation {
            name: "新客户经理介绍".into(),
            trigger: Trigger::OwnerChanged,
            conditions: vec![],
            actions: vec![
                // Service purpose: it tells the guest who now serves their bookings and carries no offer.
                Action::MessageCustomer {
                    channel: Channel::Sms,
                    template_id: "preset.new_owner.sms".into(),
                    purpose: MessagePurpose::Service,
                    coupon: None,
                },
                Action::RemindOwner {
                    template_id: "preset.new_owner.inbox".into(),
                },
            ],
            enabled: false,
        },
        templates: vec![
            PresetTemplate {
                template_id: "preset.new_owner.sms",
                draft: sms(
                    "{{customer.salutation | \"您好\"}}，我是{{store.name}}的客户经理{{manager.name}}，\
                     今后由我为您服务，订座可联系{{manager.phone | \"门店\"}}。",
                ),
            },
            PresetTemplate {
                template_id: "preset.new_owner.inbox",
                draft: inbox(
                    "新客户：{{customer.salutation}}",
                    "{{customer.salutation}}（{{customer.class | \"未分级\"}}类）已转给您，\
                     最爱{{customer.favourite_dish | \"暂无记录\"}}，请尽快联系认识一下。",
                ),
            },
        ],
    }
}

pub fn a_class_follow_up_reminder() -> Preset {
    Preset {
        key: "a_class_follow_up_reminder",
        automation: Automation {
            name: "A类客户回访提醒".into(),
            trigger: Trigger::FollowUpDue { days_before: 0 },
            conditions: vec![Condition::ClassIn {
                classes: vec![CustomerClass::A],
            }],
            actions: vec![Action::RemindOwner {
                template_id: "preset.a_class_follow_up.inbox".into(),
            }],
            enabled: false,
        },
        templates: vec![PresetTemplate {
            template_id: "preset.a_class_follow_up.inbox",
            draft: inbox(
                "今日回访：{{customer.salutation}}",
                "今天需要回访A类客户{{customer.salutation}}（{{follow_up.note | \"到店后回访\"}}），\
                 完成后请记录跟进结果。",
            ),
        }],
    }
}

#[cfg(test)]
#[path = "presets_tests.rs"]
mod tests;
