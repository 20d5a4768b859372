//! Send claims and worker leases (issue 19 item 7). A dispatcher worker holds a short lease in
//! `notif_workers`, renewed while it runs; the messages it claims carry its id (`claimed_by`), and
//! the ones it hands to a provider are marked first (`handed_at_us`, one statement per batch). A
//! claim is abandoned when its worker's lease lapsed (or was retired: a restarted replica retires
//! its previous incarnations at once). Every write here is guarded by the claimant, so a worker
//! that lost its claim can neither hand nor settle it, and at most one worker ever hands a message
//! to the provider.

use maitre_kit::db::value_rows;
use sea_orm::ConnectionTrait;

use super::messages::{COLUMNS, MessageRow, from_row};
use super::queue::ROWS_PER_STATEMENT;
use super::{exec, query_all};
use crate::error::Result;

/// A claimed message whose worker is gone (or is the caller, after a failed round).
#[derive(Debug, Clone)]
pub struct AbandonedClaim {
    pub row: MessageRow,
    /// The worker that claimed it.
    pub claimed_by: String,
    /// Whether it was handed to the provider (its outcome is then unknown).
    pub handed: bool,
}

/// Registers or renews `worker`'s lease (of replica `replica`) until `lease_until_us`.
pub async fn renew(
    conn: &impl ConnectionTrait,
    worker: &str,
    replica: &str,
    lease_until_us: i64,
) -> Result<()> {
    exec(
        conn,
        "INSERT INTO notif_workers (worker_id, replica, lease_until_us) VALUES ($1, $2, $3)
         ON CONFLICT (worker_id) DO UPDATE SET lease_until_us = excluded.lease_until_us",
        [worker.into(), replica.into(), lease_until_us.into()],
    )
    .await?;
    Ok(())
}

/// Ends the leases of `replica`'s other workers: a replica that starts again knows its previous
/// incarnation is dead, so its claims are recovered now instead of after the lease. Returns how
/// many were retired. A replica without a stable name (`""`) retires nothing.
pub async fn retire_replica(
    conn: &impl ConnectionTrait,
    replica: &str,
    except_worker: &str,
) -> Result<u64> {
    if replica.is_empty() {
        return Ok(0);
    }
    exec(
        conn,
        "UPDATE notif_workers SET lease_until_us = 0
         WHERE replica = $1 AND worker_id <> $2 AND lease_until_us > 0",
        [replica.into(), except_worker.into()],
    )
    .await
}

/// Ends `worker`'s lease (a graceful stop) and forgets workers whose lease lapsed before
/// `forget_before_us` and who hold no claim.
pub async fn retire(
    conn: &impl ConnectionTrait,
    worker: &str,
    forget_before_us: i64,
) -> Result<()> {
    exec(
        conn,
        "UPDATE notif_workers SET lease_until_us = 0 WHERE worker_id = $1",
        [worker.into()],
    )
    .await?;
    exec(
        conn,
        "DELETE FROM notif_workers WHERE lease_until_us < $1 AND NOT EXISTS (
           SELECT 1 FROM notif_messages
           WHERE status = 'sending' AND claimed_by = notif_workers.worker_id)",
        [forget_before_us.into()],
    )
    .await?;
    Ok(())
}

/// Claims that are abandoned at `now_us` (their worker's lease lapsed, or no worker) or still
/// held by `me` (a round of mine that failed before settling), oldest claim first.
pub async fn abandoned(
    conn: &impl ConnectionTrait,
    me: &str,
    now_us: i64,
    limit: u64,
) -> Result<Vec<AbandonedClaim>> {
    let rows = query_all(
        conn,
        &format!(
            "SELECT {COLUMNS}, claimed_by, handed_at_us FROM notif_messages
             WHERE status = 'sending' AND (claimed_by = $1 OR claimed_by NOT IN (
               SELECT worker_id FROM notif_workers WHERE lease_until_us >= $2))
             ORDER BY claimed_at_us LIMIT $3"
        ),
        [
            me.into(),
            now_us.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(AbandonedClaim {
                row: from_row(row)?,
                claimed_by: row.try_get("", "claimed_by")?,
                handed: row.try_get::<Option<i64>>("", "handed_at_us")?.is_some(),
            })
        })
        .collect()
}

/// Takes over `claims` for `me`, each only if still held by the worker it was read with (two
/// replicas recovering at once adopt disjoint sets). Returns the message ids adopted.
pub async fn adopt(
    conn: &impl ConnectionTrait,
    me: &str,
    claims: &[AbandonedClaim],
) -> Result<Vec<String>> {
    let mut adopted = Vec::with_capacity(claims.len());
    for chunk in claims.chunks(ROWS_PER_STATEMENT) {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 3 + 1);
        for claim in chunk {
            values.extend([
                claim.row.chain_id.clone().into(),
                claim.row.message_id.clone().into(),
                claim.claimed_by.clone().into(),
            ]);
        }
        values.push(me.into());
        let me_at = chunk.len() * 3 + 1;
        let rows = query_all(
            conn,
            &format!(
                "UPDATE notif_messages SET claimed_by = ${me_at}
                 FROM (VALUES {}) AS v
                 WHERE chain_id = v.column1 AND message_id = v.column2 AND claimed_by = v.column3
                   AND status = 'sending'
                 RETURNING message_id",
                value_rows(chunk.len(), 3)
            ),
            values,
        )
        .await?;
        for row in rows {
            adopted.push(row.try_get::<String>("", "message_id")?);
        }
    }
    Ok(adopted)
}

/// Marks `rows` (claimed by `me`) as handed to the provider, before the provider is called.
/// Returns the ids still ours: only those may be sent.
pub async fn hand(
    conn: &impl ConnectionTrait,
    me: &str,
    rows: &[&MessageRow],
    now_us: i64,
) -> Result<Vec<String>> {
    let mut handed = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 2 + 2);
        for row in chunk {
            values.extend([row.chain_id.clone().into(), row.message_id.clone().into()]);
        }
        values.extend([me.into(), now_us.into()]);
        let me_at = chunk.len() * 2 + 1;
        let rows = query_all(
            conn,
            &format!(
                "UPDATE notif_messages SET handed_at_us = ${}
                 FROM (VALUES {}) AS v
                 WHERE chain_id = v.column1 AND message_id = v.column2 AND claimed_by = ${me_at}
                   AND status = 'sending'
                 RETURNING message_id",
                me_at + 1,
                value_rows(chunk.len(), 2)
            ),
            values,
        )
        .await?;
        for row in rows {
            handed.push(row.try_get::<String>("", "message_id")?);
        }
    }
    Ok(handed)
}
