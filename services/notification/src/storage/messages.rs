//! The `notif_messages` table (one row per chain and de-duplication key: the UNIQUE constraint is the
//! "never twice for one occurrence" guarantee) and `notif_message_history` (every status change).

use std::collections::BTreeMap;

use maitre_kit::db::DbError;
use sea_orm::{ConnectionTrait, QueryResult};

use super::{exec, query_all, query_one};
use crate::convert::{channel_from_str, purpose_from_str};
use crate::domain::channel::{Channel, MessagePurpose};
use crate::error::{Error, Result};

/// A message to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub message_id: String,
    pub customer_id: String,
    pub staff_id: String,
    pub channel: Channel,
    pub purpose: MessagePurpose,
    pub template_id: String,
    /// Template variables by path (`coupon.code` → value), rendered at send time.
    pub variables: BTreeMap<String, String>,
    pub campaign_id: String,
    pub automation_id: String,
    pub dedup_key: String,
    pub next_attempt_at_us: i64,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    pub chain_id: String,
    pub message_id: String,
    pub customer_id: String,
    pub staff_id: String,
    pub channel: Channel,
    pub purpose: MessagePurpose,
    pub template_id: String,
    pub variables: BTreeMap<String, String>,
    pub subject: String,
    pub body: String,
    pub status: String,
    pub reason: String,
    pub campaign_id: String,
    pub automation_id: String,
    pub dedup_key: String,
    pub attempts: i32,
    pub next_attempt_at_us: i64,
    pub provider_message_id: String,
    /// When the message was queued.
    pub created_at_us: i64,
}

/// One status change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub status: String,
    pub reason: String,
    pub change_time_us: i64,
}

pub(super) const COLUMNS: &str = "chain_id, message_id, customer_id, staff_id, channel, purpose, template_id, variables, subject, body, status, reason, campaign_id, automation_id, dedup_key, attempts, next_attempt_at_us, provider_message_id, created_at_us";

fn corrupt(what: &str, reason: impl ToString) -> Error {
    Error::Db(DbError::Corrupt {
        what: what.into(),
        reason: reason.to_string(),
    })
}

pub(super) fn from_row(row: &QueryResult) -> Result<MessageRow> {
    let channel: String = row.try_get("", "channel")?;
    let purpose: String = row.try_get("", "purpose")?;
    let variables: String = row.try_get("", "variables")?;
    Ok(MessageRow {
        chain_id: row.try_get("", "chain_id")?,
        message_id: row.try_get("", "message_id")?,
        customer_id: row.try_get("", "customer_id")?,
        staff_id: row.try_get("", "staff_id")?,
        channel: channel_from_str(&channel).ok_or_else(|| corrupt("message.channel", &channel))?,
        purpose: purpose_from_str(&purpose).ok_or_else(|| corrupt("message.purpose", &purpose))?,
        template_id: row.try_get("", "template_id")?,
        variables: serde_json::from_str(&variables).map_err(|e| corrupt("message.variables", e))?,
        subject: row.try_get("", "subject")?,
        body: row.try_get("", "body")?,
        status: row.try_get("", "status")?,
        reason: row.try_get("", "reason")?,
        campaign_id: row.try_get("", "campaign_id")?,
        automation_id: row.try_get("", "automation_id")?,
        dedup_key: row.try_get("", "dedup_key")?,
        attempts: row.try_get("", "attempts")?,
        next_attempt_at_us: row.try_get("", "next_attempt_at_us")?,
        provider_message_id: row.try_get("", "provider_message_id")?,
        created_at_us: row.try_get("", "created_at_us")?,
    })
}

/// Inserts the message unless its de-duplication key exists in the chain; `true` when inserted.
pub async fn insert(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    message: &NewMessage,
    now_us: i64,
) -> Result<bool> {
    let variables =
        serde_json::to_string(&message.variables).map_err(|e| corrupt("message.variables", e))?;
    let inserted = exec(
        conn,
        "INSERT INTO notif_messages (message_id, chain_id, customer_id, staff_id, channel, purpose, template_id,
           variables, subject, body, status, reason, campaign_id, automation_id, dedup_key, attempts,
           next_attempt_at_us, counted_at_us, claimed_at_us, provider_message_id, created_at_us, updated_at_us)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '', '', 'queued', '', $9, $10, $11, 0, $12, NULL, NULL, '', $13, $13)
         ON CONFLICT (chain_id, dedup_key) DO NOTHING",
        [
            message.message_id.clone().into(),
            chain_id.into(),
            message.customer_id.clone().into(),
            message.staff_id.clone().into(),
            message.channel.as_str().into(),
            message.purpose.as_str().into(),
            message.template_id.clone().into(),
            variables.into(),
            message.campaign_id.clone().into(),
            message.automation_id.clone().into(),
            message.dedup_key.clone().into(),
            message.next_attempt_at_us.into(),
            now_us.into(),
        ],
    )
    .await?;
    if inserted == 0 {
        return Ok(false);
    }
    add_history(conn, chain_id, &message.message_id, "queued", "", now_us).await?;
    Ok(true)
}

/// Appends a status history row.
pub async fn add_history(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    message_id: &str,
    status: &str,
    reason: &str,
    now_us: i64,
) -> Result<()> {
    exec(
        conn,
        "INSERT INTO notif_message_history (chain_id, message_id, status, reason, change_time_us)
         VALUES ($1, $2, $3, $4, $5)",
        [
            chain_id.into(),
            message_id.into(),
            status.into(),
            reason.into(),
            now_us.into(),
        ],
    )
    .await?;
    Ok(())
}

/// The message, if it exists in the chain.
pub async fn get(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    message_id: &str,
) -> Result<Option<MessageRow>> {
    let row = query_one(
        conn,
        &format!("SELECT {COLUMNS} FROM notif_messages WHERE chain_id = $1 AND message_id = $2"),
        [chain_id.into(), message_id.into()],
    )
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The chain's message the provider knows by `provider_message_id` (a delivery report's id).
pub async fn get_by_provider_id(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    provider_message_id: &str,
) -> Result<Option<MessageRow>> {
    if provider_message_id.is_empty() {
        return Ok(None);
    }
    let row = query_one(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM notif_messages WHERE chain_id = $1 AND provider_message_id = $2 \
             ORDER BY message_id LIMIT 1"
        ),
        [chain_id.into(), provider_message_id.into()],
    )
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Records the guest's first open of the message at `opened_at_us`; `false` when it was already
/// opened (a repeated callback changes nothing).
pub async fn record_open(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    message_id: &str,
    opened_at_us: i64,
) -> Result<bool> {
    let changed = exec(
        conn,
        "UPDATE notif_messages SET opened_at_us = $3
         WHERE chain_id = $1 AND message_id = $2 AND opened_at_us = 0",
        [chain_id.into(), message_id.into(), opened_at_us.into()],
    )
    .await?;
    Ok(changed == 1)
}

/// When the guest first opened the message; `None` when never.
pub async fn opened_at(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    message_id: &str,
) -> Result<Option<i64>> {
    let row = query_one(
        conn,
        "SELECT opened_at_us FROM notif_messages WHERE chain_id = $1 AND message_id = $2",
        [chain_id.into(), message_id.into()],
    )
    .await?;
    Ok(match row {
        Some(row) => Some(row.try_get::<i64>("", "opened_at_us")?).filter(|at| *at > 0),
        None => None,
    })
}

/// The message holding a de-duplication key, if any.
pub async fn get_by_dedup_key(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    dedup_key: &str,
) -> Result<Option<MessageRow>> {
    let row = query_one(
        conn,
        &format!("SELECT {COLUMNS} FROM notif_messages WHERE chain_id = $1 AND dedup_key = $2"),
        [chain_id.into(), dedup_key.into()],
    )
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The message's status history, oldest first.
pub async fn history(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    message_id: &str,
) -> Result<Vec<HistoryRow>> {
    let rows = query_all(
        conn,
        "SELECT status, reason, change_time_us FROM notif_message_history
         WHERE chain_id = $1 AND message_id = $2 ORDER BY id",
        [chain_id.into(), message_id.into()],
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(HistoryRow {
                status: row.try_get("", "status")?,
                reason: row.try_get("", "reason")?,
                change_time_us: row.try_get("", "change_time_us")?,
            })
        })
        .collect()
}

/// Filters of `ListDeliveries`.
#[derive(Debug, Clone, Default)]
pub struct ListFilter<'a> {
    pub customer_id: &'a str,
    pub campaign_id: &'a str,
    pub statuses: &'a [&'a str],
}

/// A page of messages, newest first (message ids are time-ordered UUIDv7), before `before`.
pub async fn list(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    filter: &ListFilter<'_>,
    before: &str,
    limit: u64,
) -> Result<Vec<MessageRow>> {
    let statuses = filter.statuses.join(",");
    let rows = query_all(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM notif_messages WHERE chain_id = $1
               AND ($2 = '' OR customer_id = $2) AND ($3 = '' OR campaign_id = $3)
               AND ($4 = '' OR status = $5 OR status = $6)
               AND ($7 = '' OR message_id < $7)
             ORDER BY message_id DESC LIMIT $8"
        ),
        [
            chain_id.into(),
            filter.customer_id.into(),
            filter.campaign_id.into(),
            statuses.into(),
            filter.statuses.first().copied().unwrap_or_default().into(),
            filter.statuses.get(1).copied().unwrap_or_default().into(),
            before.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    )
    .await?;
    rows.iter().map(from_row).collect()
}

/// Changes of a message row besides its status.
#[derive(Debug, Clone, Default)]
pub struct RowUpdate {
    pub next_attempt_at_us: Option<i64>,
    /// `Some(Some(t))` counts the message toward caps at `t`; `Some(None)` uncounts it.
    pub counted_at_us: Option<Option<i64>>,
    pub rendered: Option<(String, String)>,
    pub provider_message_id: Option<String>,
    /// Gives back the attempt a claim took (a deferral is not an attempt).
    pub refund_attempt: bool,
}

/// Moves the message to `status` (from `expected_from` when given) with its history row; `false` when the
/// row was not in the expected status.
#[allow(clippy::too_many_arguments)]
pub async fn set_status(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    message_id: &str,
    expected_from: Option<&str>,
    status: &str,
    reason: &str,
    update: &RowUpdate,
    now_us: i64,
) -> Result<bool> {
    let (subject, body) = update.rendered.clone().unwrap_or_default();
    let changed = exec(
        conn,
        "UPDATE notif_messages SET status = $1, reason = $2, updated_at_us = $3,
           next_attempt_at_us = CASE WHEN $4 = 1 THEN $5 ELSE next_attempt_at_us END,
           counted_at_us = CASE WHEN $6 = 1 THEN $7 ELSE counted_at_us END,
           subject = CASE WHEN $8 = 1 THEN $9 ELSE subject END,
           body = CASE WHEN $8 = 1 THEN $10 ELSE body END,
           provider_message_id = CASE WHEN $11 = 1 THEN $12 ELSE provider_message_id END,
           attempts = attempts - $13
         WHERE chain_id = $14 AND message_id = $15 AND ($16 = '' OR status = $16)",
        [
            status.into(),
            reason.into(),
            now_us.into(),
            i32::from(update.next_attempt_at_us.is_some()).into(),
            update.next_attempt_at_us.unwrap_or_default().into(),
            i32::from(update.counted_at_us.is_some()).into(),
            update.counted_at_us.flatten().into(),
            i32::from(update.rendered.is_some()).into(),
            subject.into(),
            body.into(),
            i32::from(update.provider_message_id.is_some()).into(),
            update
                .provider_message_id
                .clone()
                .unwrap_or_default()
                .into(),
            i32::from(update.refund_attempt).into(),
            chain_id.into(),
            message_id.into(),
            expected_from.unwrap_or_default().into(),
        ],
    )
    .await?;
    if changed == 0 {
        return Ok(false);
    }
    add_history(conn, chain_id, message_id, status, reason, now_us).await?;
    Ok(true)
}

/// The latest message sent to the customer on the channel (for replies).
pub async fn latest_sent(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    channel: Channel,
) -> Result<Option<MessageRow>> {
    let row = query_one(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM notif_messages WHERE chain_id = $1 AND customer_id = $2 AND channel = $3
               AND status IN ('sent', 'delivered') ORDER BY message_id DESC LIMIT 1"
        ),
        [chain_id.into(), customer_id.into(), channel.as_str().into()],
    )
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The campaign's latest message to the customer that reached them (sent or delivered): what
/// an explicit campaign response (`CONTACT_KIND_CAMPAIGN_RESPONSE`) answers.
pub async fn latest_sent_of_campaign(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    campaign_id: &str,
) -> Result<Option<MessageRow>> {
    let row = query_one(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM notif_messages WHERE chain_id = $1 AND customer_id = $2 AND campaign_id = $3
               AND status IN ('sent', 'delivered') ORDER BY message_id DESC LIMIT 1"
        ),
        [chain_id.into(), customer_id.into(), campaign_id.into()],
    )
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Counts of a campaign's messages by status and reason.
pub async fn campaign_counts(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    campaign_id: &str,
) -> Result<Vec<(String, String, i64)>> {
    let rows = query_all(
        conn,
        "SELECT status, reason, COUNT(*) AS n FROM notif_messages WHERE chain_id = $1 AND campaign_id = $2
         GROUP BY status, reason",
        [chain_id.into(), campaign_id.into()],
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("", "status")?,
                row.try_get("", "reason")?,
                row.try_get("", "n")?,
            ))
        })
        .collect()
}

/// Suppresses every still-queued message of a campaign (cancel); returns them.
pub async fn suppress_queued_of_campaign(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    campaign_id: &str,
    now_us: i64,
) -> Result<Vec<MessageRow>> {
    suppress_queued(
        conn,
        chain_id,
        ("campaign_id", campaign_id),
        "campaign_cancelled",
        now_us,
    )
    .await
}

/// Suppresses every still-queued message to a customer (their personal data was erased);
/// returns them.
pub async fn suppress_queued_of_customer(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    now_us: i64,
) -> Result<Vec<MessageRow>> {
    suppress_queued(
        conn,
        chain_id,
        ("customer_id", customer_id),
        "customer_erased",
        now_us,
    )
    .await
}

/// Suppresses the still-queued messages whose `column` is `value`, with `reason`.
async fn suppress_queued(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    (column, value): (&'static str, &str),
    reason: &str,
    now_us: i64,
) -> Result<Vec<MessageRow>> {
    let rows = query_all(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM notif_messages WHERE chain_id = $1 AND {column} = $2 AND status = 'queued'"
        ),
        [chain_id.into(), value.into()],
    )
    .await?;
    let mut suppressed = Vec::new();
    for row in rows.iter().map(from_row) {
        let row = row?;
        if set_status(
            conn,
            chain_id,
            &row.message_id,
            Some("queued"),
            "suppressed",
            reason,
            &RowUpdate::default(),
            now_us,
        )
        .await?
        {
            suppressed.push(row);
        }
    }
    Ok(suppressed)
}
