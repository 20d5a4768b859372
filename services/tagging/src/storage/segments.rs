//! Saved segments (`tag_segment`): a name and an expression, checked when saved.

use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use super::col;

#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRow {
    pub segment_id: String,
    pub name: String,
    pub expression: String,
    pub description: String,
    pub watched: bool,
    pub created_at_us: i64,
}

const COLUMNS: &str = "segment_id, name, expression, description, watched, created_at_us";

fn from_row(row: &QueryResult) -> Result<SegmentRow, DbErr> {
    Ok(SegmentRow {
        segment_id: col(row, 0)?,
        name: col(row, 1)?,
        expression: col(row, 2)?,
        description: col(row, 3)?,
        watched: col::<i64>(row, 4)? != 0,
        created_at_us: col(row, 5)?,
    })
}

pub async fn insert_segment(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    s: &SegmentRow,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        &format!(
            "INSERT INTO tag_segment (chain_id, {COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ),
        [
            chain_id.into(),
            s.segment_id.clone().into(),
            s.name.clone().into(),
            s.expression.clone().into(),
            s.description.clone().into(),
            i64::from(s.watched).into(),
            s.created_at_us.into(),
        ],
    ))
    .await?;
    Ok(())
}

pub async fn get_segment(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    segment_id: &str,
) -> Result<Option<SegmentRow>, DbErr> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            &format!("SELECT {COLUMNS} FROM tag_segment WHERE chain_id = $1 AND segment_id = $2"),
            [chain_id.into(), segment_id.into()],
        ))
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// A page of segments by id after `after_id`.
pub async fn list_segments(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    after_id: &str,
    limit: u64,
) -> Result<Vec<SegmentRow>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT {COLUMNS} FROM tag_segment WHERE chain_id = $1 AND segment_id > $2 ORDER BY segment_id LIMIT $3"
            ),
            [chain_id.into(), after_id.into(), (limit as i64).into()],
        ))
        .await?;
    rows.iter().map(from_row).collect()
}

/// Deletes a segment; false when there was none.
pub async fn delete_segment(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    segment_id: &str,
) -> Result<bool, DbErr> {
    let result = conn
        .execute_raw(stmt(
            conn,
            "DELETE FROM tag_segment WHERE chain_id = $1 AND segment_id = $2",
            [chain_id.into(), segment_id.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}
