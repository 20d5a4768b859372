//! A guest's interactions other than visits (`tag_interaction`): campaign responses, replies
//! to messages and reviews, from profile's stream (explicit `CAMPAIGN_RESPONSE` and `REVIEW`
//! contacts) and notification's (messages moved to RESPONDED). One row per occurrence key,
//! so replays and the two routes of one campaign response (the explicit event and the
//! RESPONDED it causes in notification) count once. Rows are kept by customer id alone, so
//! an interaction consumed before profile's stream told of the guest is not lost.

use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, DbErr};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager, async_trait};

use super::col;
use crate::domain::rule::InteractionKind;

/// Migration creating `tag_interaction`.
pub struct InteractionTables;

impl MigrationName for InteractionTables {
    fn name(&self) -> &str {
        "m0004_tagging_interactions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for InteractionTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE TABLE IF NOT EXISTS tag_interaction (
                    chain_id TEXT NOT NULL, customer_id TEXT NOT NULL, kind TEXT NOT NULL,
                    occurrence TEXT NOT NULL, day BIGINT NOT NULL,
                    PRIMARY KEY (chain_id, customer_id, kind, occurrence))",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS tag_interaction")
            .await?;
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InteractionRow {
    pub customer_id: String,
    pub kind: InteractionKind,
    pub day: i32,
}

/// The occurrence key of a campaign response: the campaign, so an explicit response and a
/// reply to the campaign's message are one response; a response naming no campaign is its
/// own event.
pub fn campaign_response_occurrence(campaign_id: &str, event_id: &str) -> String {
    if campaign_id.is_empty() {
        format!("event:{event_id}")
    } else {
        format!("campaign:{campaign_id}")
    }
}

/// Records an interaction once per occurrence; a second route to the same occurrence
/// keeps the earlier day (the response happened when it first did).
pub async fn record_interaction(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    kind: InteractionKind,
    occurrence: &str,
    day: i32,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO tag_interaction (chain_id, customer_id, kind, occurrence, day) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (chain_id, customer_id, kind, occurrence) DO UPDATE
         SET day = CASE WHEN excluded.day < tag_interaction.day THEN excluded.day ELSE tag_interaction.day END",
        [
            chain_id.into(),
            customer_id.into(),
            kind.as_str().into(),
            occurrence.into(),
            i64::from(day).into(),
        ],
    ))
    .await?;
    Ok(())
}

fn row_of(r: &sea_orm::QueryResult) -> Result<Option<InteractionRow>, DbErr> {
    let kind: String = col(r, 1)?;
    // A kind this version does not know (written by a newer one) is not a fact it reads.
    let Some(kind) = InteractionKind::parse(&kind) else {
        return Ok(None);
    };
    Ok(Some(InteractionRow {
        customer_id: col(r, 0)?,
        kind,
        day: i32::try_from(col::<i64>(r, 2)?).unwrap_or(i32::MIN),
    }))
}

fn rows_of(rows: &[sea_orm::QueryResult]) -> Result<Vec<InteractionRow>, DbErr> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.extend(row_of(r)?);
    }
    Ok(out)
}

pub async fn interactions_of(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<Vec<InteractionRow>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT customer_id, kind, day FROM tag_interaction
             WHERE chain_id = $1 AND customer_id = $2 ORDER BY day",
            [chain_id.into(), customer_id.into()],
        ))
        .await?;
    rows_of(&rows)
}

/// Interactions of the customers numbered in `[from, to)`.
pub async fn interactions_in_range(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    from: u32,
    to: u32,
) -> Result<Vec<InteractionRow>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT i.customer_id, i.kind, i.day
             FROM tag_interaction i JOIN tag_customer c ON c.chain_id = i.chain_id AND c.customer_id = i.customer_id
             WHERE i.chain_id = $1 AND c.number >= $2 AND c.number < $3 ORDER BY i.day",
            [chain_id.into(), i64::from(from).into(), i64::from(to).into()],
        ))
        .await?;
    rows_of(&rows)
}

/// Moves an absorbed customer's interactions to the survivor of a merge (an occurrence
/// both had stays once).
pub async fn move_interactions(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    from_customer: &str,
    to_customer: &str,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO tag_interaction (chain_id, customer_id, kind, occurrence, day)
         SELECT chain_id, $3, kind, occurrence, day FROM tag_interaction WHERE chain_id = $1 AND customer_id = $2
         ON CONFLICT (chain_id, customer_id, kind, occurrence) DO NOTHING",
        [chain_id.into(), from_customer.into(), to_customer.into()],
    ))
    .await?;
    erase_interactions(conn, chain_id, from_customer).await
}

/// Forgets a customer's interactions (erasure, or absorbed by a merge).
pub async fn erase_interactions(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "DELETE FROM tag_interaction WHERE chain_id = $1 AND customer_id = $2",
        [chain_id.into(), customer_id.into()],
    ))
    .await?;
    Ok(())
}

/// Interactions of `customer_ids`, by day.
pub async fn interactions_of_customers(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_ids: &[String],
) -> Result<Vec<InteractionRow>, DbErr> {
    if customer_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT customer_id, kind, day FROM tag_interaction
                 WHERE chain_id = $1 AND customer_id IN ({}) ORDER BY day",
                super::in_list(2, customer_ids.len())
            ),
            super::chain_and(chain_id, customer_ids),
        ))
        .await?;
    rows_of(&rows)
}
