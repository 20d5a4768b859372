//! The `notif_templates` table: templates as the editor saved them (the source text is kept and
//! re-compiled on use; it was validated at save time).

use sea_orm::{ConnectionTrait, QueryResult};

use super::{exec, query_all, query_one};
use crate::convert::{channel_from_str, purpose_from_str};
use crate::domain::channel::{Channel, MessagePurpose};
use crate::domain::provider_binding::ProviderBinding;
use crate::domain::template::{Locale, Template, TemplateDraft};
use crate::error::{Error, Result};
use maitre_kit::db::DbError;

/// A stored template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRow {
    pub template_id: String,
    pub name: String,
    pub channel: Channel,
    pub locale: Locale,
    pub subject: Option<String>,
    pub body: String,
    pub purpose: MessagePurpose,
    pub update_time_us: i64,
    /// The binding to the provider's approved template, if any.
    pub provider: Option<ProviderBinding>,
}

impl TemplateRow {
    /// The draft of the stored source.
    pub fn draft(&self) -> TemplateDraft {
        TemplateDraft {
            channel: self.channel,
            locale: self.locale,
            subject: self.subject.clone(),
            body: self.body.clone(),
        }
    }

    /// The compiled template (validated when saved, so failure means a corrupt row).
    pub fn compile(&self) -> Result<Template> {
        Template::compile(&self.draft()).map_err(|e| {
            Error::Db(DbError::Corrupt {
                what: format!("template {}", self.template_id),
                reason: e.to_string(),
            })
        })
    }
}

/// The stored name of a locale.
pub fn locale_str(locale: Locale) -> &'static str {
    match locale {
        Locale::ZhCn => "zh-CN",
        Locale::En => "en",
    }
}

/// A locale from its name; empty means the default (zh-CN).
pub fn locale_from_str(value: &str) -> Option<Locale> {
    match value {
        "" | "zh-CN" => Some(Locale::ZhCn),
        "en" => Some(Locale::En),
        _ => None,
    }
}

fn corrupt(what: &str, reason: &str) -> Error {
    Error::Db(DbError::Corrupt {
        what: what.into(),
        reason: reason.into(),
    })
}

fn from_row(row: &QueryResult) -> Result<TemplateRow> {
    let channel: String = row.try_get("", "channel")?;
    let purpose: String = row.try_get("", "purpose")?;
    let locale: String = row.try_get("", "locale")?;
    Ok(TemplateRow {
        template_id: row.try_get("", "template_id")?,
        name: row.try_get("", "name")?,
        channel: channel_from_str(&channel).ok_or_else(|| corrupt("template.channel", &channel))?,
        locale: locale_from_str(&locale).ok_or_else(|| corrupt("template.locale", &locale))?,
        subject: row.try_get("", "subject")?,
        body: row.try_get("", "body")?,
        purpose: purpose_from_str(&purpose).ok_or_else(|| corrupt("template.purpose", &purpose))?,
        update_time_us: row.try_get("", "update_time_us")?,
        provider: provider_from_json(&row.try_get::<String>("", "provider")?)?,
    })
}

fn provider_from_json(json: &str) -> Result<Option<ProviderBinding>> {
    if json.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(json)
        .map(Some)
        .map_err(|e| corrupt("template.provider", &e.to_string()))
}

const COLUMNS: &str =
    "template_id, name, channel, locale, subject, body, purpose, update_time_us, provider";

/// Inserts or replaces a template of the chain.
pub async fn upsert(conn: &impl ConnectionTrait, chain_id: &str, row: &TemplateRow) -> Result<()> {
    exec(
        conn,
        "INSERT INTO notif_templates (chain_id, template_id, name, channel, locale, subject, body, purpose, update_time_us, provider)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (chain_id, template_id) DO UPDATE SET name = excluded.name, channel = excluded.channel,
           locale = excluded.locale, subject = excluded.subject, body = excluded.body,
           purpose = excluded.purpose, update_time_us = excluded.update_time_us,
           provider = excluded.provider",
        [
            chain_id.into(),
            row.template_id.clone().into(),
            row.name.clone().into(),
            row.channel.as_str().into(),
            locale_str(row.locale).into(),
            row.subject.clone().into(),
            row.body.clone().into(),
            row.purpose.as_str().into(),
            row.update_time_us.into(),
            row.provider
                .as_ref()
                .and_then(|b| serde_json::to_string(b).ok())
                .unwrap_or_default()
                .into(),
        ],
    )
    .await?;
    Ok(())
}

/// The template, if it exists in the chain.
pub async fn get(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    template_id: &str,
) -> Result<Option<TemplateRow>> {
    let row = query_one(
        conn,
        &format!("SELECT {COLUMNS} FROM notif_templates WHERE chain_id = $1 AND template_id = $2"),
        [chain_id.into(), template_id.into()],
    )
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Deletes the template; `false` when it did not exist.
pub async fn delete(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    template_id: &str,
) -> Result<bool> {
    let affected = exec(
        conn,
        "DELETE FROM notif_templates WHERE chain_id = $1 AND template_id = $2",
        [chain_id.into(), template_id.into()],
    )
    .await?;
    Ok(affected > 0)
}

/// A page of templates ordered by id, after `after`, optionally of one channel.
pub async fn list(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    channel: Option<Channel>,
    after: &str,
    limit: u64,
) -> Result<Vec<TemplateRow>> {
    let channel = channel.map(|c| c.as_str()).unwrap_or_default();
    let rows = query_all(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM notif_templates WHERE chain_id = $1 AND template_id > $2
             AND ($3 = '' OR channel = $3) ORDER BY template_id LIMIT $4"
        ),
        [
            chain_id.into(),
            after.into(),
            channel.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    )
    .await?;
    rows.iter().map(from_row).collect()
}
