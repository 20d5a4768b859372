//! Template RPCs: create, get, update (field mask), delete, list, preview. A template is compiled at
//! save time, so an unknown variable is an `INVALID_ARGUMENT` naming the field and the variable.

use std::collections::HashMap;

use chrono::Utc;
use maitre_kit::{auth::Caller, idempotency, page::PageRequest};
use maitre_proto::notification::v1::{
    CreateTemplateRequest, CreateTemplateResponse, DeleteTemplateRequest, DeleteTemplateResponse,
    GetTemplateRequest, GetTemplateResponse, ListTemplatesRequest, ListTemplatesResponse,
    PreviewTemplateRequest, PreviewTemplateResponse, Template as ProtoTemplate,
    UpdateTemplateRequest, UpdateTemplateResponse,
};
use tonic::{Request, Response, Status};

use super::{NotificationServiceApi, WRITERS};
use crate::convert::{
    channel_from_proto, channel_to_proto, purpose_from_proto, purpose_to_proto,
    template_error_field, timestamp_from_us,
};
use crate::domain::channel::Channel;
use crate::domain::provider_binding::{self, ProviderBinding, ProviderParameter};
use crate::domain::template::{Template, TemplateDraft};
use crate::domain::template_vars::{TemplateValues, TemplateVariable};
use crate::error::{Error, Result};
use crate::storage::provider_accounts;
use crate::storage::templates::{self, TemplateRow, locale_from_str, locale_str};
use crate::storage::{automations, campaigns};
use maitre_proto::notification::v1 as pb;
use sea_orm::ConnectionTrait;

/// Longest template name.
const MAX_NAME_CHARS: usize = 80;

/// Compiles a template row, naming the failing field (`template.body`, `template.subject`).
pub(crate) fn compile(row: &TemplateRow) -> Result<Template> {
    Template::compile(&row.draft()).map_err(|source| Error::Template {
        field: template_error_field(&source),
        source,
    })
}

/// A validated row from the proto (id and time supplied by the caller).
fn row_from_proto(t: &ProtoTemplate, template_id: String, now_us: i64) -> Result<TemplateRow> {
    let name = t.name.trim();
    if name.is_empty() {
        return Err(Error::invalid("template.name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid(
            "template.name",
            format!("more than {MAX_NAME_CHARS} characters"),
        ));
    }
    let channel = channel_from_proto("template.channel", t.channel)?;
    let locale = locale_from_str(&t.locale)
        .ok_or_else(|| Error::invalid("template.locale", "use zh-CN or en"))?;
    let purpose = purpose_from_proto("template.purpose", t.purpose, channel)?;
    if channel == Channel::StaffInbox
        && purpose != crate::domain::channel::MessagePurpose::Transactional
    {
        return Err(Error::invalid(
            "template.purpose",
            "staff inbox templates have the staff purpose",
        ));
    }
    let provider = match &t.provider {
        Some(binding) => {
            let binding = binding_from_proto(binding);
            provider_binding::validate(&binding).map_err(|e| Error::invalid(e.field, e.message))?;
            Some(binding)
        }
        None => None,
    };
    let row = TemplateRow {
        provider,
        template_id,
        name: name.to_owned(),
        channel,
        locale,
        subject: Some(t.subject.clone()).filter(|s| !s.is_empty()),
        body: t.body.clone(),
        purpose,
        update_time_us: now_us,
    };
    compile(&row)?;
    Ok(row)
}

/// The proto of a stored template (variables computed from the source).
pub(crate) fn to_proto(row: &TemplateRow) -> ProtoTemplate {
    let variables = Template::compile(&row.draft())
        .map(|t| {
            t.variables()
                .into_iter()
                .map(|v| v.path().to_owned())
                .collect()
        })
        .unwrap_or_default();
    ProtoTemplate {
        template_id: row.template_id.clone(),
        name: row.name.clone(),
        channel: channel_to_proto(row.channel) as i32,
        locale: locale_str(row.locale).to_owned(),
        subject: row.subject.clone().unwrap_or_default(),
        body: row.body.clone(),
        purpose: purpose_to_proto(row.purpose) as i32,
        variables,
        update_time: Some(timestamp_from_us(row.update_time_us)),
        provider: row.provider.as_ref().map(|b| pb::ProviderBinding {
            provider_template_id: b.provider_template_id.clone(),
            sign_name: b.sign_name.clone(),
            parameters: b
                .parameters
                .iter()
                .map(|p| pb::ProviderParameter {
                    name: p.name.clone(),
                    variable: p.variable.clone(),
                })
                .collect(),
        }),
    }
}

fn binding_from_proto(binding: &pb::ProviderBinding) -> ProviderBinding {
    ProviderBinding {
        provider_template_id: binding.provider_template_id.trim().to_owned(),
        sign_name: binding.sign_name.trim().to_owned(),
        parameters: binding
            .parameters
            .iter()
            .map(|p| ProviderParameter {
                name: p.name.trim().to_owned(),
                variable: p.variable.trim().to_owned(),
            })
            .collect(),
    }
}

/// INVALID_ARGUMENT naming the field (under `prefix`) when the chain's provider of the template's
/// channel cannot send it (an approved-template provider and no binding to its template).
pub(crate) async fn check_sendable(
    conn: &impl ConnectionTrait,
    chain: &str,
    row: &TemplateRow,
) -> std::result::Result<(), provider_binding::BindingError> {
    let Ok(Some(account)) = provider_accounts::get(conn, chain, row.channel).await else {
        // No account (the process-wide provider sends any template); a read failure is
        // reported when sending.
        return Ok(());
    };
    let sign_name = account
        .settings
        .get("sign_name")
        .map(String::as_str)
        .unwrap_or_default();
    provider_binding::sendable(row.provider.as_ref(), account.kind, sign_name)
}

/// Refuses enabling an automation one of whose message templates its chain's provider cannot
/// send, naming the action (`automation.actions[i].template_id`) and the template's field.
pub(crate) async fn check_automation_sendable(
    conn: &impl ConnectionTrait,
    chain: &str,
    automation: &pb::Automation,
) -> Result<()> {
    for (index, action) in automation.actions.iter().enumerate() {
        if action.template_id.is_empty() {
            continue;
        }
        let Some(row) = templates::get(conn, chain, &action.template_id).await? else {
            continue;
        };
        if let Err(e) = check_sendable(conn, chain, &row).await {
            return Err(Error::invalid(
                format!("automation.actions[{index}].template_id"),
                format!("template `{}` cannot be sent: {e}", row.template_id),
            ));
        }
    }
    Ok(())
}

/// Sample values for previews without a customer.
fn sample_values() -> TemplateValues {
    let samples = [
        (TemplateVariable::CustomerName, "李娜"),
        (TemplateVariable::CustomerSalutation, "李女士"),
        (TemplateVariable::CustomerBirthday, "05-20"),
        (TemplateVariable::CustomerFavouriteDish, "杨枝甘露"),
        (TemplateVariable::CustomerFavouriteCategory, "甜品"),
        (TemplateVariable::CustomerClass, "A"),
        (TemplateVariable::StoreName, "静安店"),
        (TemplateVariable::StorePhone, "021-62880000"),
        (TemplateVariable::ManagerName, "王经理"),
        (TemplateVariable::ManagerPhone, "13800000000"),
        (TemplateVariable::CouponCode, "DESSERT-8K2P"),
        (TemplateVariable::CouponName, "招牌甜品券"),
        (TemplateVariable::CouponExpiresOn, "2026-12-31"),
        (TemplateVariable::OccurrenceDaysUntil, "3"),
        (TemplateVariable::AnniversaryName, "结婚纪念日"),
        (TemplateVariable::FollowUpDueOn, "2026-12-01"),
        (TemplateVariable::FollowUpNote, "到店后回访"),
    ];
    let mut values = TemplateValues::new();
    for (variable, value) in samples {
        values.set(variable, value);
    }
    values
}

/// Applies `variables` (path → value) over `values`; unknown paths are refused naming the key.
pub(crate) fn apply_variables(
    field: &str,
    values: &mut TemplateValues,
    variables: &HashMap<String, String>,
) -> Result<()> {
    for (path, value) in variables {
        let variable = TemplateVariable::from_path(path)
            .ok_or_else(|| Error::invalid(format!("{field}[{path}]"), "unknown variable"))?;
        values.set(variable, value.clone());
    }
    Ok(())
}

impl NotificationServiceApi {
    pub(super) async fn create_template_rpc(
        &self,
        request: Request<CreateTemplateRequest>,
    ) -> Result<Response<CreateTemplateResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        caller.require_role(WRITERS)?;
        let chain = caller.chain()?.to_owned();
        let request = request.into_inner();
        let db = &self.runtime.db;
        if let Some(done) =
            idempotency::recall(db, &chain, "CreateTemplate", &request.request_id).await?
        {
            return Ok(Response::new(done));
        }
        let template = request
            .template
            .ok_or_else(|| Error::invalid("template", "is required"))?;
        let row = row_from_proto(
            &template,
            uuid::Uuid::now_v7().to_string(),
            Utc::now().timestamp_micros(),
        )?;
        check_sendable(db, &chain, &row)
            .await
            .map_err(|e| Error::invalid(e.field, e.message))?;
        let response = CreateTemplateResponse {
            template: Some(to_proto(&row)),
        };
        let txn = maitre_kit::db::begin_write(db).await.map_err(Error::from)?;
        templates::upsert(&txn, &chain, &row).await?;
        idempotency::remember(
            &txn,
            &chain,
            "CreateTemplate",
            &request.request_id,
            &response,
        )
        .await?;
        txn.commit().await.map_err(Error::from)?;
        Ok(Response::new(response))
    }

    pub(super) async fn get_template_rpc(
        &self,
        request: Request<GetTemplateRequest>,
    ) -> Result<Response<GetTemplateResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        let chain = caller.chain()?;
        let id = &request.get_ref().template_id;
        let row = self.template(chain, id).await?;
        Ok(Response::new(GetTemplateResponse {
            template: Some(to_proto(&row)),
        }))
    }

    /// The chain's template or NOT_FOUND.
    pub(crate) async fn template(&self, chain: &str, template_id: &str) -> Result<TemplateRow> {
        templates::get(&self.runtime.db, chain, template_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "template",
                id: template_id.to_owned(),
            })
    }

    pub(super) async fn update_template_rpc(
        &self,
        request: Request<UpdateTemplateRequest>,
    ) -> Result<Response<UpdateTemplateResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        caller.require_role(WRITERS)?;
        let chain = caller.chain()?.to_owned();
        let request = request.into_inner();
        let update = request
            .template
            .ok_or_else(|| Error::invalid("template", "is required"))?;
        let stored = self.template(&chain, &update.template_id).await?;
        let mut merged = to_proto(&stored);
        let paths: Vec<String> = match request.update_mask {
            Some(mask) if !mask.paths.is_empty() => mask.paths,
            _ => ["name", "subject", "body", "locale", "purpose", "provider"]
                .map(String::from)
                .to_vec(),
        };
        for path in &paths {
            match path.as_str() {
                "name" => merged.name = update.name.clone(),
                "subject" => merged.subject = update.subject.clone(),
                "body" => merged.body = update.body.clone(),
                "locale" => merged.locale = update.locale.clone(),
                "purpose" => merged.purpose = update.purpose,
                "provider" => merged.provider = update.provider.clone(),
                other => {
                    return Err(Error::invalid(
                        "update_mask",
                        format!(
                            "`{other}` cannot be updated (name, subject, body, locale, purpose, provider)"
                        ),
                    )
                    .into());
                }
            }
        }
        let row = row_from_proto(&merged, stored.template_id, Utc::now().timestamp_micros())?;
        check_sendable(&self.runtime.db, &chain, &row)
            .await
            .map_err(|e| Error::invalid(e.field, e.message))?;
        templates::upsert(&self.runtime.db, &chain, &row).await?;
        Ok(Response::new(UpdateTemplateResponse {
            template: Some(to_proto(&row)),
        }))
    }

    pub(super) async fn delete_template_rpc(
        &self,
        request: Request<DeleteTemplateRequest>,
    ) -> Result<Response<DeleteTemplateResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        caller.require_role(WRITERS)?;
        let chain = caller.chain()?;
        let id = &request.get_ref().template_id;
        self.template(chain, id).await?;
        let db = &self.runtime.db;
        if automations::enabled_using_template(db, chain, id).await?
            || campaigns::pending_using_template(db, chain, id).await?
        {
            return Err(Error::Precondition {
                field: "template_id",
                message: "used by an enabled automation or a scheduled campaign".into(),
            }
            .into());
        }
        templates::delete(db, chain, id).await?;
        Ok(Response::new(DeleteTemplateResponse {}))
    }

    pub(super) async fn list_templates_rpc(
        &self,
        request: Request<ListTemplatesRequest>,
    ) -> Result<Response<ListTemplatesResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        let chain = caller.chain()?;
        let request = request.get_ref();
        let page = PageRequest::parse(request.page_size, &request.page_token, 500)?;
        let channel = if request.channel == 0 {
            None
        } else {
            Some(channel_from_proto("channel", request.channel)?)
        };
        let rows =
            templates::list(&self.runtime.db, chain, channel, &page.after, page.size + 1).await?;
        let more = rows.len() as u64 > page.size;
        let rows: Vec<_> = rows.into_iter().take(page.size as usize).collect();
        let next_page_token = match rows.last() {
            Some(last) if more => maitre_kit::page::next_token(&last.template_id),
            _ => String::new(),
        };
        Ok(Response::new(ListTemplatesResponse {
            templates: rows.iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    pub(super) async fn preview_template_rpc(
        &self,
        request: Request<PreviewTemplateRequest>,
    ) -> Result<Response<PreviewTemplateResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        let chain = caller.chain()?;
        let request = request.get_ref();
        let template = if !request.template_id.is_empty() {
            compile(&self.template(chain, &request.template_id).await?)?
        } else if !request.body.is_empty() {
            Template::compile(&TemplateDraft {
                channel: Channel::Sms,
                locale: Default::default(),
                subject: None,
                body: request.body.clone(),
            })
            .map_err(|source| Error::invalid("body", source.to_string()))?
        } else {
            return Err(
                Error::invalid("template_id", "a template id or a body is required").into(),
            );
        };
        // A named customer's own values; sample values only when none is named.
        let mut values = if request.customer_id.trim().is_empty() {
            sample_values()
        } else {
            self.guest_named(&caller, chain, "customer_id", request.customer_id.trim())
                .await?
                .template_values()
        };
        apply_variables("variables", &mut values, &request.variables)?;
        let rendered = template
            .render(&values, &Default::default())
            .map_err(|source| Error::Template {
                field: template_error_field(&source),
                source,
            })?;
        Ok(Response::new(PreviewTemplateResponse {
            subject: rendered.subject.unwrap_or_default(),
            body: rendered.body,
            sms_segments: rendered
                .size
                .sms_segments
                .and_then(|s| i32::try_from(s).ok())
                .unwrap_or(0),
        }))
    }
}
