//! The automation action queue (`notif_actions`): actions that call other systems (a follow-up plan in
//! profile, a webhook) are written here in the consumer's transaction — one row per chain and
//! de-duplication key — and performed by the action worker after the commit. Statuses: `queued` →
//! `running` (claimed by one worker) → `done`, back to `queued` with a later attempt time, or `dead`
//! with the reason.

use sea_orm::{ConnectionTrait, QueryResult};

use super::{exec, query_all, query_one};
use crate::error::Result;

/// An action to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAction {
    pub action_id: String,
    /// `follow_up` or `webhook`.
    pub kind: String,
    pub customer_id: String,
    pub automation_id: String,
    pub dedup_key: String,
    /// The action's JSON (`crate::app::actions::QueuedAction`).
    pub payload: String,
    pub next_attempt_at_us: i64,
}

/// A stored action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRow {
    pub action_id: String,
    pub chain_id: String,
    pub kind: String,
    pub customer_id: String,
    pub automation_id: String,
    pub dedup_key: String,
    pub payload: String,
    pub status: String,
    pub reason: String,
    pub attempts: i64,
    pub next_attempt_at_us: i64,
    /// What the target answered (the plan id, the webhook's status).
    pub result: String,
}

const COLUMNS: &str = "action_id, chain_id, kind, customer_id, automation_id, dedup_key, payload, status, \
     reason, attempts, next_attempt_at_us, result";

fn from_row(row: &QueryResult) -> Result<ActionRow> {
    let attempts: i32 = row.try_get("", "attempts")?;
    Ok(ActionRow {
        action_id: row.try_get("", "action_id")?,
        chain_id: row.try_get("", "chain_id")?,
        kind: row.try_get("", "kind")?,
        customer_id: row.try_get("", "customer_id")?,
        automation_id: row.try_get("", "automation_id")?,
        dedup_key: row.try_get("", "dedup_key")?,
        payload: row.try_get("", "payload")?,
        status: row.try_get("", "status")?,
        reason: row.try_get("", "reason")?,
        attempts: i64::from(attempts),
        next_attempt_at_us: row.try_get("", "next_attempt_at_us")?,
        result: row.try_get("", "result")?,
    })
}

/// Enqueues an action in the caller's transaction; `false` when its de-duplication key exists.
pub async fn insert(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    action: &NewAction,
    now_us: i64,
) -> Result<bool> {
    let inserted = exec(
        conn,
        "INSERT INTO notif_actions (action_id, chain_id, kind, customer_id, automation_id, dedup_key,
           payload, status, reason, attempts, next_attempt_at_us, claimed_at_us, result, created_at_us,
           updated_at_us)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', '', 0, $8, NULL, '', $9, $9)
         ON CONFLICT (chain_id, dedup_key) DO NOTHING",
        [
            action.action_id.clone().into(),
            chain_id.into(),
            action.kind.clone().into(),
            action.customer_id.clone().into(),
            action.automation_id.clone().into(),
            action.dedup_key.clone().into(),
            action.payload.clone().into(),
            action.next_attempt_at_us.into(),
            now_us.into(),
        ],
    )
    .await?;
    Ok(inserted == 1)
}

/// Queued actions due at `now_us`, oldest first, across chains.
pub async fn due(conn: &impl ConnectionTrait, now_us: i64, limit: u64) -> Result<Vec<ActionRow>> {
    let rows = query_all(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM notif_actions WHERE status = 'queued' AND next_attempt_at_us <= $1
             ORDER BY next_attempt_at_us, action_id LIMIT $2"
        ),
        [now_us.into(), i64::try_from(limit).unwrap_or(i64::MAX).into()],
    )
    .await?;
    rows.iter().map(from_row).collect()
}

/// Actions claimed before `claimed_before_us` by a worker that never finished them.
pub async fn stale_running(
    conn: &impl ConnectionTrait,
    claimed_before_us: i64,
    limit: u64,
) -> Result<Vec<ActionRow>> {
    let rows = query_all(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM notif_actions WHERE status = 'running' AND claimed_at_us < $1
             ORDER BY claimed_at_us LIMIT $2"
        ),
        [
            claimed_before_us.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    )
    .await?;
    rows.iter().map(from_row).collect()
}

/// Claims a queued action for one worker (one `UPDATE … WHERE status = 'queued'` wins); `true` when won.
pub async fn claim(conn: &impl ConnectionTrait, action_id: &str, now_us: i64) -> Result<bool> {
    let claimed = exec(
        conn,
        "UPDATE notif_actions SET status = 'running', claimed_at_us = $1, updated_at_us = $1,
           attempts = attempts + 1
         WHERE action_id = $2 AND status = 'queued'",
        [now_us.into(), action_id.into()],
    )
    .await?;
    Ok(claimed == 1)
}

/// Moves a running action to `status` (`done`, `queued` for a retry at `next_attempt_at_us`, `dead`);
/// `false` when it was no longer running.
pub async fn finish(
    conn: &impl ConnectionTrait,
    action_id: &str,
    status: &str,
    reason: &str,
    result: &str,
    next_attempt_at_us: i64,
    now_us: i64,
) -> Result<bool> {
    let changed = exec(
        conn,
        "UPDATE notif_actions SET status = $1, reason = $2, result = $3, next_attempt_at_us = $4,
           updated_at_us = $5
         WHERE action_id = $6 AND status = 'running'",
        [
            status.into(),
            reason.into(),
            result.into(),
            next_attempt_at_us.into(),
            now_us.into(),
            action_id.into(),
        ],
    )
    .await?;
    Ok(changed == 1)
}

/// The action of an occurrence's key.
pub async fn get_by_dedup_key(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    dedup_key: &str,
) -> Result<Option<ActionRow>> {
    let row = query_one(
        conn,
        &format!("SELECT {COLUMNS} FROM notif_actions WHERE chain_id = $1 AND dedup_key = $2"),
        [chain_id.into(), dedup_key.into()],
    )
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The chain's actions of one customer, oldest first.
pub async fn for_customer(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<Vec<ActionRow>> {
    let rows = query_all(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM notif_actions WHERE chain_id = $1 AND customer_id = $2
             ORDER BY created_at_us, action_id"
        ),
        [chain_id.into(), customer_id.into()],
    )
    .await?;
    rows.iter().map(from_row).collect()
}
