use std::collections::BTreeSet;

use chrono::NaiveDate;

use super::super::automation::{AutomationEvent, CustomerFacts, DayStarted, conditions_hold};
use super::super::automation_validate::{validate_action_template, validate_automation};
use super::super::channel::CustomerId;
use super::super::channel_limits::ChannelLimits;
use super::super::consent::ConsentState;
use super::super::template::Template;
use super::super::template_vars::{TemplateValues, TemplateVariable};
use super::super::trigger::matches;
use super::*;

fn coupons() -> PresetCoupons {
    PresetCoupons {
        birthday_dessert_batch_id: "batch-dessert".into(),
        winback_batch_id: "batch-winback".into(),
    }
}

fn sample_values() -> TemplateValues {
    use TemplateVariable as V;
    TemplateValues::new()
        .with(V::CustomerSalutation, "李女士")
        .with(V::CustomerBirthday, "6月18日")
        .with(V::StoreName, "味道餐厅静安店")
        .with(V::ManagerName, "王经理")
        .with(V::CouponCode, "BD8K2Q")
        .with(V::CouponExpiresOn, "6月25日")
        .with(V::OccurrenceDaysUntil, "3")
}

#[test]
fn presets_have_unique_keys_and_ship_disabled() {
    let presets = all_presets(&coupons());
    let keys: BTreeSet<_> = presets.iter().map(|preset| preset.key).collect();
    assert_eq!(keys.len(), 5);
    assert!(presets.iter().all(|preset| !preset.automation.enabled));
}

#[test]
fn every_preset_validates_and_its_templates_compile_and_fit() {
    for preset in all_presets(&coupons()) {
        assert_eq!(
            validate_automation(&preset.automation),
            Ok(()),
            "preset {}",
            preset.key
        );
        for (index, action) in preset.automation.actions.iter().enumerate() {
            let template_id = match action {
                Action::MessageCustomer { template_id, .. }
                | Action::RemindOwner { template_id } => template_id,
                _ => continue,
            };
            let shipped = preset
                .templates
                .iter()
                .find(|template| template.template_id == template_id)
                .unwrap_or_else(|| panic!("preset {} lacks template {template_id}", preset.key));
            let template = Template::compile(&shipped.draft)
                .unwrap_or_else(|error| panic!("{template_id}: {error}"));
            assert_eq!(
                validate_action_template(&format!("actions[{index}]"), action, &template),
                Ok(())
            );
            let rendered = template
                .render(
                    &sample_values(),
                    &ChannelLimits {
                        sms_signature_chars: 9,
                        ..ChannelLimits::default()
                    },
                )
                .unwrap_or_else(|error| panic!("{template_id}: {error}"));
            if let Some(segments) = rendered.size.sms_segments {
                assert!(segments <= 2, "{template_id} costs {segments} SMS segments");
            }
        }
    }
}

#[test]
fn birthday_greeting_reaches_only_dessert_lovers_on_their_birthday() {
    let preset = birthday_dessert_greeting(&coupons());
    let day = |today| {
        AutomationEvent::DayStarted(DayStarted {
            customer_id: CustomerId::new("li"),
            store_today: today,
            birthday: NaiveDate::from_ymd_opt(1990, 6, 18),
            anniversaries: vec![],
            follow_ups: vec![],
        })
    };
    let birthday = NaiveDate::from_ymd_opt(2025, 6, 18).expect("valid");
    let eve = NaiveDate::from_ymd_opt(2025, 6, 17).expect("valid");
    assert!(matches(&preset.automation.trigger, &day(birthday)));
    assert!(!matches(&preset.automation.trigger, &day(eve)));
    let consent = ConsentState::new();
    let dessert_lover: BTreeSet<String> = [TAG_LIKES_DESSERT.to_string()].into();
    let steak_lover: BTreeSet<String> = ["likes_steak".to_string()].into();
    let facts = |tags| CustomerFacts {
        tags,
        class: None,
        consent: &consent,
    };
    assert!(conditions_hold(
        &preset.automation.conditions,
        &facts(&dessert_lover)
    ));
    assert!(!conditions_hold(
        &preset.automation.conditions,
        &facts(&steak_lover)
    ));
}

#[test]
fn owner_reminder_reads_like_the_seed_example() {
    let preset = birthday_owner_reminder();
    let template = Template::compile(&preset.templates[0].draft).expect("compiles");
    let rendered = template
        .render(&sample_values(), &ChannelLimits::default())
        .expect("renders");
    assert_eq!(rendered.subject.as_deref(), Some("李女士3天后生日"));
    assert!(
        rendered
            .body
            .starts_with("李女士3天后过生日（6月18日），喜欢甜品"),
        "{}",
        rendered.body
    );
}

#[test]
fn winback_fires_on_lapsed_tag() {
    let preset = winback_60d(&coupons());
    let event = AutomationEvent::TagAdded {
        customer_id: CustomerId::new("li"),
        tag: TAG_LAPSED_60D.into(),
        event_sequence: 1,
    };
    assert!(matches(&preset.automation.trigger, &event));
}

/// The preset keys the contract documents (`Preset.preset` in notification.proto, which the
/// gateway's OpenAPI document shows) are exactly the keys served (issue 19 item 8).
#[test]
fn the_contract_names_exactly_the_served_preset_keys() {
    let proto = include_str!("../../../../proto/maitre/notification/v1/notification.proto");
    let message = proto
        .split("message Preset {")
        .nth(1)
        .and_then(|rest| rest.split("string preset = 1;").next())
        .expect("Preset.preset is documented");
    let documented: BTreeSet<&str> = message.split('"').skip(1).step_by(2).collect();
    let served: BTreeSet<&str> = all_presets(&coupons()).iter().map(|p| p.key).collect();
    assert_eq!(documented, served);
}
