//! `asg_bulk_job` / `asg_bulk_move`: a job's row (progress, keyed by a `request_id` so the
//! same key resumes the same job) and its plan, persisted once so a resumed job handles
//! exactly the customers planned, each at most once. Two kinds share the shape: bulk
//! transfers (a line per customer to move) and lock reviews (a line per customer to lock
//! if they still qualify).

use sea_orm::{ConnectionTrait, QueryResult};

use super::{all, exec, one};
use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub job_id: String,
    /// [`KIND_BULK_TRANSFER`] or [`KIND_LOCK_REVIEW`].
    pub kind: String,
    pub request_id: String,
    pub from_manager_id: String,
    /// "running", "succeeded", "failed".
    pub state: String,
    pub total: i64,
    pub done: i64,
    pub failed: i64,
    pub error: String,
    pub actor: String,
}

/// A bulk transfer (seed 四).
pub const KIND_BULK_TRANSFER: &str = "bulk_transfer";
/// A review of existing customers against a value lock turned on or changed.
pub const KIND_LOCK_REVIEW: &str = "lock_review";

const COLUMNS: &str =
    "job_id, request_id, from_manager_id, state, total, done, failed, error, actor, kind";

fn from_row(row: &QueryResult) -> Result<JobRow, Error> {
    Ok(JobRow {
        job_id: row.try_get("", "job_id")?,
        request_id: row.try_get("", "request_id")?,
        from_manager_id: row.try_get("", "from_manager_id")?,
        state: row.try_get("", "state")?,
        total: row.try_get("", "total")?,
        done: row.try_get("", "done")?,
        failed: row.try_get("", "failed")?,
        error: row.try_get("", "error")?,
        actor: row.try_get("", "actor")?,
        kind: row.try_get("", "kind")?,
    })
}

pub async fn get(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    job_id: &str,
) -> Result<Option<JobRow>, Error> {
    one(
        conn,
        &format!("SELECT {COLUMNS} FROM asg_bulk_job WHERE chain_id = $1 AND job_id = $2"),
        [chain_id.into(), job_id.into()],
    )
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

pub async fn by_request(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    request_id: &str,
) -> Result<Option<JobRow>, Error> {
    one(
        conn,
        &format!("SELECT {COLUMNS} FROM asg_bulk_job WHERE chain_id = $1 AND request_id = $2"),
        [chain_id.into(), request_id.into()],
    )
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Inserts the job unless its request id exists; `false` when another call created it.
pub async fn insert(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    job: &JobRow,
    now_us: i64,
) -> Result<bool, Error> {
    Ok(exec(
        conn,
        &format!(
            "INSERT INTO asg_bulk_job (chain_id, {COLUMNS}, created_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT DO NOTHING"
        ),
        [
            chain_id.into(),
            job.job_id.clone().into(),
            job.request_id.clone().into(),
            job.from_manager_id.clone().into(),
            job.state.clone().into(),
            job.total.into(),
            job.done.into(),
            job.failed.into(),
            job.error.clone().into(),
            job.actor.clone().into(),
            job.kind.clone().into(),
            now_us.into(),
        ],
    )
    .await?
        == 1)
}

pub async fn insert_move(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    job_id: &str,
    customer_id: &str,
    to_manager_id: &str,
) -> Result<(), Error> {
    exec(
        conn,
        "INSERT INTO asg_bulk_move (chain_id, job_id, customer_id, to_manager_id, state) VALUES ($1, $2, $3, $4, 'pending')",
        [
            chain_id.into(),
            job_id.into(),
            customer_id.into(),
            to_manager_id.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Up to `limit` planned moves not done yet: (customer, target).
pub async fn pending_moves(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    job_id: &str,
    limit: i64,
) -> Result<Vec<(String, String)>, Error> {
    let rows = all(
        conn,
        "SELECT customer_id, to_manager_id FROM asg_bulk_move WHERE chain_id = $1 AND job_id = $2 AND state = 'pending'
         ORDER BY customer_id LIMIT $3",
        [chain_id.into(), job_id.into(), limit.into()],
    )
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect()
}

/// Marks a planned move finished (`moved` or `skipped`) unless another executor did;
/// `false` when it was no longer pending. Run first in the move's transaction.
pub async fn finish_move(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    job_id: &str,
    customer_id: &str,
    state: &str,
) -> Result<bool, Error> {
    Ok(exec(
        conn,
        "UPDATE asg_bulk_move SET state = $1 WHERE chain_id = $2 AND job_id = $3 AND customer_id = $4 AND state = 'pending'",
        [state.into(), chain_id.into(), job_id.into(), customer_id.into()],
    )
    .await?
        == 1)
}

/// Finishes a lock review's line (`state`, and the owner locked to, when one was) unless
/// another executor did; `false` when it was no longer pending. Run first in the line's
/// transaction.
pub async fn finish_review(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    job_id: &str,
    customer_id: &str,
    state: &str,
    locked_to: Option<&str>,
) -> Result<bool, Error> {
    Ok(exec(
        conn,
        "UPDATE asg_bulk_move SET state = $1, to_manager_id = COALESCE($2, to_manager_id)
         WHERE chain_id = $3 AND job_id = $4 AND customer_id = $5 AND state = 'pending'",
        [
            state.into(),
            locked_to.map(str::to_owned).into(),
            chain_id.into(),
            job_id.into(),
            customer_id.into(),
        ],
    )
    .await?
        == 1)
}

/// Recounts the job's progress from its moves and stores it; the job after the update.
pub async fn refresh_progress(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    job_id: &str,
) -> Result<Option<JobRow>, Error> {
    exec(
        conn,
        "UPDATE asg_bulk_job SET
           done = (SELECT COUNT(*) FROM asg_bulk_move m WHERE m.chain_id = $1 AND m.job_id = $2 AND m.state <> 'pending'),
           failed = (SELECT COUNT(*) FROM asg_bulk_move m WHERE m.chain_id = $1 AND m.job_id = $2 AND m.state = 'skipped'),
           state = CASE WHEN (SELECT COUNT(*) FROM asg_bulk_move m WHERE m.chain_id = $1 AND m.job_id = $2 AND m.state = 'pending') = 0
                        THEN 'succeeded' ELSE state END
         WHERE chain_id = $1 AND job_id = $2",
        [chain_id.into(), job_id.into()],
    )
    .await?;
    get(conn, chain_id, job_id).await
}

/// Running jobs of `kind` in every chain (`(chain_id, job)`), oldest first: what a replica
/// resumes after a crash.
pub async fn running(
    conn: &impl ConnectionTrait,
    kind: &str,
) -> Result<Vec<(String, JobRow)>, Error> {
    let rows = all(
        conn,
        &format!(
            "SELECT chain_id, {COLUMNS} FROM asg_bulk_job WHERE state = 'running' AND kind = $1
             ORDER BY created_at_us"
        ),
        [kind.into()],
    )
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("", "chain_id")?, from_row(row)?)))
        .collect()
}

/// Customers moved per target manager.
pub async fn moved_per_manager(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    job_id: &str,
) -> Result<Vec<(String, i64)>, Error> {
    let rows = all(
        conn,
        "SELECT to_manager_id, CAST(COUNT(*) AS BIGINT) FROM asg_bulk_move
         WHERE chain_id = $1 AND job_id = $2 AND state = 'moved' GROUP BY to_manager_id",
        [chain_id.into(), job_id.into()],
    )
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect()
}
