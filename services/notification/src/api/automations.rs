//! Automation RPCs: CRUD with save-time validation (domain::automation_validate, templates must exist
//! and fit the action), enable/disable, and the presets (domain::presets) installed with their templates.

use chrono::Utc;
use maitre_kit::auth::Caller;
use maitre_kit::idempotency;
use maitre_kit::page::{PageRequest, next_token};
use maitre_proto::notification::v1::{
    self as pb, Action as ProtoAction, ActionKind, Automation as ProtoAutomation, Conditions,
    CreateAutomationRequest, CreateAutomationResponse, GetAutomationRequest, GetAutomationResponse,
    InstallPresetRequest, InstallPresetResponse, ListAutomationsRequest, ListAutomationsResponse,
    ListPresetsRequest, ListPresetsResponse, SetAutomationEnabledRequest,
    SetAutomationEnabledResponse, TriggerKind, UpdateAutomationRequest, UpdateAutomationResponse,
};
use tonic::{Request, Response, Status};

use super::templates::{check_automation_sendable, to_proto as template_to_proto};
use super::{NotificationServiceApi, WRITERS};
use crate::app::automation::to_domain;
use crate::convert::channel_to_proto;
use crate::domain::automation::{Action, Automation, Condition, Trigger};
use crate::domain::channel::{CustomerClass, MessagePurpose};
use crate::domain::presets::{Preset, PresetCoupons, all_presets};
use crate::domain::webhook_target::{AllowedHosts, refused_host};
use crate::error::{Error, Result};
use crate::storage::automations;
use crate::storage::templates::{self, TemplateRow};

fn trigger_to_proto(trigger: &Trigger) -> pb::Trigger {
    let (kind, tag, segment_id, days_before) = match trigger {
        Trigger::TagAdded { tag } => (TriggerKind::TagAdded, tag.clone(), String::new(), 0),
        Trigger::TagRemoved { tag } => (TriggerKind::TagRemoved, tag.clone(), String::new(), 0),
        Trigger::SegmentEntered { segment_id } => (
            TriggerKind::SegmentEntered,
            String::new(),
            segment_id.clone(),
            0,
        ),
        Trigger::BirthdayInDays { days_before } => (
            TriggerKind::Birthday,
            String::new(),
            String::new(),
            *days_before,
        ),
        Trigger::AnniversaryInDays { days_before, .. } => (
            TriggerKind::Anniversary,
            String::new(),
            String::new(),
            *days_before,
        ),
        Trigger::OwnerChanged => (TriggerKind::OwnerChanged, String::new(), String::new(), 0),
        Trigger::FollowUpDue { days_before } => (
            TriggerKind::FollowUpDue,
            String::new(),
            String::new(),
            *days_before,
        ),
        Trigger::FollowUpOverdue { days_overdue } => (
            TriggerKind::FollowUpOverdue,
            String::new(),
            String::new(),
            *days_overdue,
        ),
    };
    pb::Trigger {
        kind: kind as i32,
        tag,
        segment_id,
        days_before: i32::from(days_before),
    }
}

/// The proto definition of a domain automation (presets), with coupons and template ids as given.
fn automation_to_proto(automation: &Automation, preset: &str) -> ProtoAutomation {
    let mut conditions = Conditions::default();
    for condition in &automation.conditions {
        match condition {
            Condition::HasTags { tags } => conditions.has_tags.extend(tags.iter().cloned()),
            Condition::LacksTags { tags } => conditions.lacks_tags.extend(tags.iter().cloned()),
            Condition::ClassIn { classes } => conditions.classes.extend(classes.iter().map(|c| {
                use maitre_proto::common::v1::CustomerClass as P;
                (match c {
                    CustomerClass::A => P::A,
                    CustomerClass::B => P::B,
                    CustomerClass::C => P::C,
                }) as i32
            })),
            Condition::ConsentFor { channel } => {
                conditions.consent_channel = channel_to_proto(*channel) as i32
            }
        }
    }
    let actions = automation
        .actions
        .iter()
        .map(|action| match action {
            Action::MessageCustomer {
                template_id,
                coupon,
                ..
            } => ProtoAction {
                kind: ActionKind::MessageCustomer as i32,
                template_id: template_id.clone(),
                coupon: coupon
                    .as_ref()
                    .map(|c| c.coupon_batch_id.clone())
                    .unwrap_or_default(),
                ..ProtoAction::default()
            },
            Action::RemindOwner { template_id } => ProtoAction {
                kind: ActionKind::RemindOwner as i32,
                template_id: template_id.clone(),
                ..ProtoAction::default()
            },
            Action::CreateFollowUpPlan { due_in_days, note } => ProtoAction {
                kind: ActionKind::CreateFollowUp as i32,
                due_in_hours: i32::from(*due_in_days) * 24,
                title: note.clone(),
                ..ProtoAction::default()
            },
            Action::CallWebhook { url } => ProtoAction {
                kind: ActionKind::Webhook as i32,
                webhook_url: url.clone(),
                ..ProtoAction::default()
            },
        })
        .collect();
    ProtoAutomation {
        automation_id: String::new(),
        name: automation.name.clone(),
        trigger: Some(trigger_to_proto(&automation.trigger)),
        conditions: Some(conditions),
        actions,
        enabled: automation.enabled,
        preset: preset.to_owned(),
        update_time: None,
    }
}

/// Refuses webhook actions aimed at internal networks (`domain::webhook_target`) unless the
/// operator allows the host. Malformed URLs are `to_domain`'s to report.
fn check_webhook_targets(automation: &ProtoAutomation, allowed: &AllowedHosts) -> Result<()> {
    for (index, action) in automation.actions.iter().enumerate() {
        if action.kind != ActionKind::Webhook as i32 {
            continue;
        }
        let Ok(url) = url::Url::parse(action.webhook_url.trim()) else {
            continue;
        };
        if let Some(reason) = url.host().and_then(|host| refused_host(&host, allowed)) {
            return Err(Error::invalid(
                format!("automation.actions[{index}].webhook_url"),
                reason,
            ));
        }
    }
    Ok(())
}

fn preset_template_rows(preset: &Preset, now_us: i64) -> Vec<TemplateRow> {
    preset
        .templates
        .iter()
        .map(|t| TemplateRow {
            template_id: t.template_id.to_owned(),
            name: format!("{} · {}", preset.automation.name, t.template_id),
            channel: t.draft.channel,
            locale: t.draft.locale,
            subject: t.draft.subject.clone(),
            body: t.draft.body.clone(),
            purpose: preset
                .automation
                .actions
                .iter()
                .find_map(|a| match a {
                    Action::MessageCustomer {
                        template_id,
                        purpose,
                        ..
                    } if template_id == t.template_id => Some(*purpose),
                    _ => None,
                })
                .unwrap_or(MessagePurpose::Transactional),
            update_time_us: now_us,
            provider: None,
        })
        .collect()
}

fn presets(coupon: &str) -> Vec<Preset> {
    all_presets(&PresetCoupons {
        birthday_dessert_batch_id: if coupon.is_empty() {
            "BIRTHDAY-DESSERT"
        } else {
            coupon
        }
        .into(),
        winback_batch_id: if coupon.is_empty() {
            "WINBACK-60D"
        } else {
            coupon
        }
        .into(),
    })
}

/// Records a change to an automation (as `GetAutomation` shows it) in its transaction.
async fn audit_automation(
    txn: &impl sea_orm::ConnectionTrait,
    caller: &Caller,
    chain: &str,
    action: &str,
    before: Option<&pb::Automation>,
    after: Option<&pb::Automation>,
) -> Result<(), Error> {
    let target = after.or(before).map(|a| a.automation_id.as_str());
    maitre_kit::audit::record(
        txn,
        &maitre_kit::audit::Actor::of(caller),
        chain,
        maitre_kit::audit::Change {
            action,
            target_type: "automation",
            target_id: target.unwrap_or_default(),
            before: before.and_then(maitre_kit::audit::json_of),
            after: after.and_then(maitre_kit::audit::json_of),
        },
    )
    .await?;
    Ok(())
}

impl NotificationServiceApi {
    async fn automation(&self, chain: &str, id: &str) -> Result<ProtoAutomation> {
        automations::get(&self.runtime.db, chain, id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "automation",
                id: id.to_owned(),
            })
    }

    pub(super) async fn create_automation_rpc(
        &self,
        request: Request<CreateAutomationRequest>,
    ) -> Result<Response<CreateAutomationResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        caller.require_role(WRITERS)?;
        let chain = caller.chain()?.to_owned();
        let request = request.into_inner();
        let db = &self.runtime.db;
        if let Some(done) =
            idempotency::recall(db, &chain, "CreateAutomation", &request.request_id).await?
        {
            return Ok(Response::new(done));
        }
        let mut automation = request
            .automation
            .ok_or_else(|| Error::invalid("automation", "is required"))?;
        automation.automation_id = uuid::Uuid::now_v7().to_string();
        // `enabled` as asked: an automation created enabled works at once.
        automation.preset = String::new();
        to_domain(db, &chain, &automation).await?;
        check_webhook_targets(&automation, &self.webhook_hosts)?;
        if automation.enabled {
            check_automation_sendable(db, &chain, &automation).await?;
        }
        let now_us = Utc::now().timestamp_micros();
        let txn = maitre_kit::db::begin_write(db).await.map_err(Error::from)?;
        let dated = automations::save(&txn, &chain, &automation, now_us).await?;
        let stored = automations::get(&txn, &chain, &automation.automation_id).await?;
        audit_automation(
            &txn,
            &caller,
            &chain,
            "notification.automation.create",
            None,
            stored.as_ref(),
        )
        .await?;
        let response = CreateAutomationResponse { automation: stored };
        idempotency::remember(
            &txn,
            &chain,
            "CreateAutomation",
            &request.request_id,
            &response,
        )
        .await?;
        txn.commit().await.map_err(Error::from)?;
        if dated {
            crate::app::daily_scan::date_automations_changed(&self.state, &chain).await;
        }
        Ok(Response::new(response))
    }

    pub(super) async fn get_automation_rpc(
        &self,
        request: Request<GetAutomationRequest>,
    ) -> Result<Response<GetAutomationResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        let automation = self
            .automation(caller.chain()?, &request.get_ref().automation_id)
            .await?;
        Ok(Response::new(GetAutomationResponse {
            automation: Some(automation),
        }))
    }

    pub(super) async fn update_automation_rpc(
        &self,
        request: Request<UpdateAutomationRequest>,
    ) -> Result<Response<UpdateAutomationResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        caller.require_role(WRITERS)?;
        let chain = caller.chain()?.to_owned();
        let request = request.into_inner();
        let update = request
            .automation
            .ok_or_else(|| Error::invalid("automation", "is required"))?;
        let mut stored = self.automation(&chain, &update.automation_id).await?;
        let before = stored.clone();
        let paths: Vec<String> = match request.update_mask {
            Some(mask) if !mask.paths.is_empty() => mask.paths,
            _ => ["name", "trigger", "conditions", "actions"]
                .map(String::from)
                .to_vec(),
        };
        for path in &paths {
            match path.as_str() {
                "name" => stored.name = update.name.clone(),
                "trigger" => stored.trigger = update.trigger.clone(),
                "conditions" => stored.conditions = update.conditions.clone(),
                "actions" => stored.actions = update.actions.clone(),
                other => {
                    return Err(Error::invalid(
                        "update_mask",
                        format!("`{other}` cannot be updated (name, trigger, conditions, actions)"),
                    )
                    .into());
                }
            }
        }
        let db = &self.runtime.db;
        to_domain(db, &chain, &stored).await?;
        check_webhook_targets(&stored, &self.webhook_hosts)?;
        if stored.enabled {
            check_automation_sendable(db, &chain, &stored).await?;
        }
        self.save(
            &caller,
            "notification.automation.update",
            &before,
            &stored,
            Utc::now().timestamp_micros(),
        )
        .await?;
        Ok(Response::new(UpdateAutomationResponse {
            automation: Some(self.automation(&chain, &stored.automation_id).await?),
        }))
    }

    pub(super) async fn list_automations_rpc(
        &self,
        request: Request<ListAutomationsRequest>,
    ) -> Result<Response<ListAutomationsResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        let chain = caller.chain()?;
        let request = request.get_ref();
        let page = PageRequest::parse(request.page_size, &request.page_token, 500)?;
        let rows = automations::list(&self.runtime.db, chain, &page.after, page.size + 1).await?;
        let more = rows.len() as u64 > page.size;
        let rows: Vec<_> = rows.into_iter().take(page.size as usize).collect();
        let next_page_token = match rows.last() {
            Some(last) if more => next_token(&last.automation_id),
            _ => String::new(),
        };
        Ok(Response::new(ListAutomationsResponse {
            automations: rows,
            next_page_token,
        }))
    }

    pub(super) async fn set_automation_enabled_rpc(
        &self,
        request: Request<SetAutomationEnabledRequest>,
    ) -> Result<Response<SetAutomationEnabledResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        caller.require_role(WRITERS)?;
        let chain = caller.chain()?.to_owned();
        let request = request.into_inner();
        let mut stored = self.automation(&chain, &request.automation_id).await?;
        let before = stored.clone();
        if request.enabled {
            // Templates (and the operator's allowed hosts) may have changed since it was saved.
            to_domain(&self.runtime.db, &chain, &stored).await?;
            check_webhook_targets(&stored, &self.webhook_hosts)?;
            check_automation_sendable(&self.runtime.db, &chain, &stored).await?;
        }
        stored.enabled = request.enabled;
        let action = if request.enabled {
            "notification.automation.enable"
        } else {
            "notification.automation.disable"
        };
        self.save(
            &caller,
            action,
            &before,
            &stored,
            Utc::now().timestamp_micros(),
        )
        .await?;
        Ok(Response::new(SetAutomationEnabledResponse {
            automation: Some(self.automation(&chain, &stored.automation_id).await?),
        }))
    }

    /// Stores the automation in a transaction of its own, audited as `action` by `caller`;
    /// an enabled date automation has today's scan done again once it is committed
    /// (`automations::save`).
    async fn save(
        &self,
        caller: &Caller,
        action: &str,
        before: &pb::Automation,
        automation: &pb::Automation,
        now_us: i64,
    ) -> Result<(), Status> {
        let chain = caller.chain()?;
        let txn = maitre_kit::db::begin_write(&self.runtime.db)
            .await
            .map_err(Error::from)?;
        let dated = automations::save(&txn, chain, automation, now_us).await?;
        let after = automations::get(&txn, chain, &automation.automation_id).await?;
        audit_automation(&txn, caller, chain, action, Some(before), after.as_ref()).await?;
        txn.commit().await.map_err(Error::from)?;
        if dated {
            crate::app::daily_scan::date_automations_changed(&self.state, chain).await;
        }
        Ok(())
    }

    pub(super) async fn list_presets_rpc(
        &self,
        request: Request<ListPresetsRequest>,
    ) -> Result<Response<ListPresetsResponse>, Status> {
        Caller::from_request(&request)?.chain()?;
        let now_us = Utc::now().timestamp_micros();
        let presets = presets("")
            .iter()
            .map(|preset| pb::Preset {
                preset: preset.key.to_owned(),
                name: preset.automation.name.clone(),
                description: preset.automation.name.clone(),
                automation: Some(automation_to_proto(&preset.automation, preset.key)),
                templates: preset_template_rows(preset, now_us)
                    .iter()
                    .map(template_to_proto)
                    .collect(),
            })
            .collect();
        Ok(Response::new(ListPresetsResponse { presets }))
    }

    pub(super) async fn install_preset_rpc(
        &self,
        request: Request<InstallPresetRequest>,
    ) -> Result<Response<InstallPresetResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        caller.require_role(WRITERS)?;
        let chain = caller.chain()?.to_owned();
        let request = request.into_inner();
        let preset = presets(&request.coupon)
            .into_iter()
            .find(|p| p.key == request.preset)
            .ok_or_else(|| Error::invalid("preset", "no such preset"))?;
        let now_us = Utc::now().timestamp_micros();
        let db = &self.runtime.db;
        let txn = maitre_kit::db::begin_write(db).await.map_err(Error::from)?;
        for mut row in preset_template_rows(&preset, now_us) {
            // A reinstall keeps the chain's binding of the template to its provider's template.
            if let Some(stored) = templates::get(&txn, &chain, &row.template_id).await? {
                row.provider = stored.provider;
            }
            templates::upsert(&txn, &chain, &row).await?;
        }
        let mut automation = automation_to_proto(&preset.automation, preset.key);
        // One installation per preset and chain: reinstalling replaces it.
        automation.automation_id = format!("preset.{}", preset.key);
        let before = automations::get(&txn, &chain, &automation.automation_id).await?;
        automation.enabled = request.enable;
        to_domain(&txn, &chain, &automation).await?;
        if automation.enabled {
            check_automation_sendable(&txn, &chain, &automation).await?;
        }
        let dated = automations::save(&txn, &chain, &automation, now_us).await?;
        let after = automations::get(&txn, &chain, &automation.automation_id).await?;
        audit_automation(
            &txn,
            &caller,
            &chain,
            "notification.automation.install_preset",
            before.as_ref(),
            after.as_ref(),
        )
        .await?;
        txn.commit().await.map_err(Error::from)?;
        if dated {
            crate::app::daily_scan::date_automations_changed(&self.state, &chain).await;
        }
        Ok(Response::new(InstallPresetResponse {
            automation: Some(self.automation(&chain, &automation.automation_id).await?),
        }))
    }
}
