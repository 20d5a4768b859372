//! The `notif_campaigns` table. States: `scheduled` (waiting), `running` (enqueueing), `dispatched`
//! (every customer enqueued), `cancelled`, `failed` (given up, with its reason). A dispatch that
//! failed for a passing reason is tried again at `next_attempt_at_us`. Stats are counted from the
//! messages table, the truth.

use sea_orm::{ConnectionTrait, QueryResult};

use super::{exec, query_all, query_one};
use crate::error::Result;

/// A stored campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRow {
    pub chain_id: String,
    pub campaign_id: String,
    pub name: String,
    pub segment: String,
    pub template_id: String,
    pub coupon: String,
    pub scheduled_at_us: i64,
    pub state: String,
    pub targeted: i64,
    pub create_time_us: i64,
    /// Dispatches that failed so far.
    pub attempts: i64,
    /// Why it failed (state `failed`), or the last failure of a dispatch to be retried.
    pub failure_reason: String,
}

const COLUMNS: &str = "chain_id, campaign_id, name, segment, template_id, coupon, scheduled_at_us, state, targeted, create_time_us, attempts, failure_reason";

fn from_row(row: &QueryResult) -> Result<CampaignRow> {
    Ok(CampaignRow {
        chain_id: row.try_get("", "chain_id")?,
        campaign_id: row.try_get("", "campaign_id")?,
        name: row.try_get("", "name")?,
        segment: row.try_get("", "segment")?,
        template_id: row.try_get("", "template_id")?,
        coupon: row.try_get("", "coupon")?,
        scheduled_at_us: row.try_get("", "scheduled_at_us")?,
        state: row.try_get("", "state")?,
        targeted: row.try_get("", "targeted")?,
        create_time_us: row.try_get("", "create_time_us")?,
        attempts: row.try_get("", "attempts")?,
        failure_reason: row.try_get("", "failure_reason")?,
    })
}

/// Inserts a new campaign.
pub async fn insert(conn: &impl ConnectionTrait, row: &CampaignRow) -> Result<()> {
    exec(
        conn,
        &format!("INSERT INTO notif_campaigns ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"),
        [
            row.chain_id.clone().into(),
            row.campaign_id.clone().into(),
            row.name.clone().into(),
            row.segment.clone().into(),
            row.template_id.clone().into(),
            row.coupon.clone().into(),
            row.scheduled_at_us.into(),
            row.state.clone().into(),
            row.targeted.into(),
            row.create_time_us.into(),
            row.attempts.into(),
            row.failure_reason.clone().into(),
        ],
    )
    .await?;
    Ok(())
}

/// The campaign, if it exists in the chain.
pub async fn get(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    campaign_id: &str,
) -> Result<Option<CampaignRow>> {
    let row = query_one(
        conn,
        &format!("SELECT {COLUMNS} FROM notif_campaigns WHERE chain_id = $1 AND campaign_id = $2"),
        [chain_id.into(), campaign_id.into()],
    )
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A page of the chain's campaigns ordered by id.
pub async fn list(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    after: &str,
    limit: u64,
) -> Result<Vec<CampaignRow>> {
    let rows = query_all(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM notif_campaigns WHERE chain_id = $1 AND campaign_id > $2 ORDER BY campaign_id LIMIT $3"
        ),
        [
            chain_id.into(),
            after.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    )
    .await?;
    rows.iter().map(from_row).collect()
}

/// Campaigns to work on: running ones (resumed after a crash) and scheduled ones now due, except
/// those waiting out a retry backoff; never-failed ones first, so a campaign that keeps failing does
/// not hold a place ahead of other chains' campaigns.
pub async fn due(conn: &impl ConnectionTrait, now_us: i64) -> Result<Vec<CampaignRow>> {
    let rows = query_all(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM notif_campaigns
               WHERE (state = 'running' OR (state = 'scheduled' AND scheduled_at_us <= $1))
                 AND next_attempt_at_us <= $1
               ORDER BY next_attempt_at_us, scheduled_at_us LIMIT 50"
        ),
        [now_us.into()],
    )
    .await?;
    rows.iter().map(from_row).collect()
}

/// Moves the campaign from `from` to `to`; `false` when it was not in `from`.
pub async fn set_state(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    campaign_id: &str,
    from: &[&str],
    to: &str,
) -> Result<bool> {
    let changed = exec(
        conn,
        "UPDATE notif_campaigns SET state = $1 WHERE chain_id = $2 AND campaign_id = $3
           AND (state = $4 OR state = $5)",
        [
            to.into(),
            chain_id.into(),
            campaign_id.into(),
            from.first().copied().unwrap_or_default().into(),
            from.get(1).copied().unwrap_or_default().into(),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// A scheduled or running campaign gives up: state `failed`, with `reason`; `false` when it was in
/// neither state (cancelled meanwhile).
pub async fn fail(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    campaign_id: &str,
    reason: &str,
) -> Result<bool> {
    let changed = exec(
        conn,
        "UPDATE notif_campaigns SET state = 'failed', failure_reason = $1, attempts = attempts + 1
           WHERE chain_id = $2 AND campaign_id = $3 AND state IN ('scheduled', 'running')",
        [reason.into(), chain_id.into(), campaign_id.into()],
    )
    .await?;
    Ok(changed > 0)
}

/// A scheduled or running campaign's dispatch failed for a passing `reason`: counted, and not
/// tried again before `next_attempt_at_us`.
pub async fn retry_later(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    campaign_id: &str,
    reason: &str,
    next_attempt_at_us: i64,
) -> Result<()> {
    exec(
        conn,
        "UPDATE notif_campaigns SET failure_reason = $1, attempts = attempts + 1,
           next_attempt_at_us = $2
           WHERE chain_id = $3 AND campaign_id = $4 AND state IN ('scheduled', 'running')",
        [
            reason.into(),
            next_attempt_at_us.into(),
            chain_id.into(),
            campaign_id.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Records how many customers the segment held at dispatch.
pub async fn set_targeted(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    campaign_id: &str,
    targeted: i64,
) -> Result<()> {
    exec(
        conn,
        "UPDATE notif_campaigns SET targeted = $1 WHERE chain_id = $2 AND campaign_id = $3",
        [targeted.into(), chain_id.into(), campaign_id.into()],
    )
    .await?;
    Ok(())
}

/// Whether a scheduled or running campaign of the chain uses the template.
pub async fn pending_using_template(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    template_id: &str,
) -> Result<bool> {
    let row = query_one(
        conn,
        "SELECT campaign_id FROM notif_campaigns WHERE chain_id = $1 AND template_id = $2
           AND state IN ('scheduled', 'running') LIMIT 1",
        [chain_id.into(), template_id.into()],
    )
    .await?;
    Ok(row.is_some())
}
