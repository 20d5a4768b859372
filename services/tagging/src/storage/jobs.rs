//! Jobs (`tag_job`): full recomputes with their progress, readable from any replica.
//! State numbers are the proto `JobState` values.

use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use super::col;

pub const STATE_PENDING: i64 = 1;
pub const STATE_RUNNING: i64 = 2;
pub const STATE_SUCCEEDED: i64 = 3;
pub const STATE_FAILED: i64 = 4;

#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub job_id: String,
    pub kind: String,
    pub state: i64,
    pub done: i64,
    pub total: i64,
    pub failed: i64,
    pub error: String,
}

fn from_row(row: &QueryResult) -> Result<JobRow, DbErr> {
    Ok(JobRow {
        job_id: col(row, 0)?,
        kind: col(row, 1)?,
        state: col(row, 2)?,
        done: col(row, 3)?,
        total: col(row, 4)?,
        failed: col(row, 5)?,
        error: col(row, 6)?,
    })
}

pub async fn insert_job(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    job: &JobRow,
    now_us: i64,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO tag_job (chain_id, job_id, kind, state, done, total, failed, error, created_at_us, updated_at_us)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        [
            chain_id.into(),
            job.job_id.clone().into(),
            job.kind.clone().into(),
            job.state.into(),
            job.done.into(),
            job.total.into(),
            job.failed.into(),
            job.error.clone().into(),
            now_us.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Records progress (state, counts, error) of a job.
pub async fn update_job(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    job: &JobRow,
    now_us: i64,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "UPDATE tag_job SET state = $3, done = $4, total = $5, failed = $6, error = $7, updated_at_us = $8
         WHERE chain_id = $1 AND job_id = $2",
        [
            chain_id.into(),
            job.job_id.clone().into(),
            job.state.into(),
            job.done.into(),
            job.total.into(),
            job.failed.into(),
            job.error.clone().into(),
            now_us.into(),
        ],
    ))
    .await?;
    Ok(())
}

pub async fn get_job(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    job_id: &str,
) -> Result<Option<JobRow>, DbErr> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            "SELECT job_id, kind, state, done, total, failed, error FROM tag_job WHERE chain_id = $1 AND job_id = $2",
            [chain_id.into(), job_id.into()],
        ))
        .await?;
    row.as_ref().map(from_row).transpose()
}
