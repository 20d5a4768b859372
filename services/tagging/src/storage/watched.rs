//! Members of watched segments (`tag_segment_member`): who was in each watched segment
//! when it was last evaluated, so `SegmentEntered` means "was not a member before".

use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, DbErr};

use super::{col, segments::SegmentRow};

/// The chain's watched segments.
pub async fn watched_segments(
    conn: &impl ConnectionTrait,
    chain_id: &str,
) -> Result<Vec<SegmentRow>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT segment_id, name, expression, description, created_at_us FROM tag_segment
             WHERE chain_id = $1 AND watched = 1 ORDER BY segment_id",
            [chain_id.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(SegmentRow {
                segment_id: col(r, 0)?,
                name: col(r, 1)?,
                expression: col(r, 2)?,
                description: col(r, 3)?,
                watched: true,
                created_at_us: col(r, 4)?,
            })
        })
        .collect()
}

/// Whether the customer is a recorded member of the segment.
pub async fn is_member(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    segment_id: &str,
    customer_id: &str,
) -> Result<bool, DbErr> {
    Ok(conn
        .query_one_raw(stmt(
            conn,
            "SELECT 1 FROM tag_segment_member WHERE chain_id = $1 AND segment_id = $2 AND customer_id = $3",
            [chain_id.into(), segment_id.into(), customer_id.into()],
        ))
        .await?
        .is_some())
}

/// Records a member; false when already recorded.
pub async fn insert_member(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    segment_id: &str,
    customer_id: &str,
    now_us: i64,
) -> Result<bool, DbErr> {
    let result = conn
        .execute_raw(stmt(
            conn,
            "INSERT INTO tag_segment_member (chain_id, segment_id, customer_id, entered_at_us)
             VALUES ($1, $2, $3, $4) ON CONFLICT (chain_id, segment_id, customer_id) DO NOTHING",
            [
                chain_id.into(),
                segment_id.into(),
                customer_id.into(),
                now_us.into(),
            ],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Removes a member; false when not recorded.
pub async fn delete_member(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    segment_id: &str,
    customer_id: &str,
) -> Result<bool, DbErr> {
    let result = conn
        .execute_raw(stmt(
            conn,
            "DELETE FROM tag_segment_member WHERE chain_id = $1 AND segment_id = $2 AND customer_id = $3",
            [chain_id.into(), segment_id.into(), customer_id.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Forgets every member of a deleted segment.
pub async fn delete_members_of_segment(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    segment_id: &str,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "DELETE FROM tag_segment_member WHERE chain_id = $1 AND segment_id = $2",
        [chain_id.into(), segment_id.into()],
    ))
    .await?;
    Ok(())
}

/// Forgets an erased or absorbed customer in every segment.
pub async fn delete_memberships_of_customer(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "DELETE FROM tag_segment_member WHERE chain_id = $1 AND customer_id = $2",
        [chain_id.into(), customer_id.into()],
    ))
    .await?;
    Ok(())
}

/// The names of the tags the customer carries now (in the caller's transaction).
pub async fn tag_names_of(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<Vec<String>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT d.name FROM tag_membership m JOIN tag_definition d
               ON d.chain_id = m.chain_id AND d.tag_id = m.tag_id
             WHERE m.chain_id = $1 AND m.customer_id = $2",
            [chain_id.into(), customer_id.into()],
        ))
        .await?;
    rows.iter().map(|r| col(r, 0)).collect()
}
