//! `asg_decision`: every ownership decision with its reason, actor, explanation and the
//! contact that caused it — the answer to "why does this customer belong to this manager".
//! Allocations also carry their store-local day and month buckets: the counts the even-split
//! balances are re-seeded from when Redis lost them.

use sea_orm::{ConnectionTrait, QueryResult, Value};

use super::{all, exec, one};
use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRow {
    pub decision_id: String,
    pub customer_id: String,
    /// Order within the customer's history (newest = highest).
    pub seq: i64,
    pub from_manager_id: String,
    pub to_manager_id: String,
    pub reason: String,
    pub actor: String,
    pub decided_at_us: i64,
    pub explanation: String,
    pub note: String,
    pub source_event_id: String,
    pub locked_after: bool,
    pub store_id: String,
    /// Store-local day/month bucket of an allocation (`day:2025-10-30`), else empty.
    pub alloc_day: String,
    pub alloc_month: String,
}

const COLUMNS: &str = "decision_id, customer_id, seq, from_manager_id, to_manager_id, reason, actor, decided_at_us, explanation, note, source_event_id, locked_after, store_id, alloc_day, alloc_month";

fn from_row(row: &QueryResult) -> Result<DecisionRow, Error> {
    Ok(DecisionRow {
        decision_id: row.try_get("", "decision_id")?,
        customer_id: row.try_get("", "customer_id")?,
        seq: row.try_get("", "seq")?,
        from_manager_id: row.try_get("", "from_manager_id")?,
        to_manager_id: row.try_get("", "to_manager_id")?,
        reason: row.try_get("", "reason")?,
        actor: row.try_get("", "actor")?,
        decided_at_us: row.try_get("", "decided_at_us")?,
        explanation: row.try_get("", "explanation")?,
        note: row.try_get("", "note")?,
        source_event_id: row.try_get("", "source_event_id")?,
        locked_after: row.try_get::<i64>("", "locked_after")? != 0,
        store_id: row.try_get("", "store_id")?,
        alloc_day: row.try_get("", "alloc_day")?,
        alloc_month: row.try_get("", "alloc_month")?,
    })
}

/// Appends `row` to the customer's history at the next position (its `seq` is ignored:
/// the position is taken in the same statement). Callers hold the customer's row lock (the
/// conditional update comes first), so two decisions of one customer never race for it.
pub async fn append(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    row: &DecisionRow,
) -> Result<(), Error> {
    exec(
        conn,
        &format!(
            "INSERT INTO asg_decision (chain_id, {COLUMNS})
             SELECT $1, $2, $3, COALESCE(MAX(seq), 0) + 1, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15
             FROM asg_decision WHERE chain_id = $1 AND customer_id = $3"
        ),
        [
            chain_id.into(),
            row.decision_id.clone().into(),
            row.customer_id.clone().into(),
            row.from_manager_id.clone().into(),
            row.to_manager_id.clone().into(),
            row.reason.clone().into(),
            row.actor.clone().into(),
            row.decided_at_us.into(),
            row.explanation.clone().into(),
            row.note.clone().into(),
            row.source_event_id.clone().into(),
            i64::from(row.locked_after).into(),
            row.store_id.clone().into(),
            row.alloc_day.clone().into(),
            row.alloc_month.clone().into(),
        ],
    )
    .await?;
    Ok(())
}

/// A page of a customer's history, newest first, before position `before_seq`.
pub async fn of_customer(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    before_seq: i64,
    limit: u64,
) -> Result<Vec<DecisionRow>, Error> {
    let values: [Value; 4] = [
        chain_id.into(),
        customer_id.into(),
        before_seq.into(),
        i64::try_from(limit).unwrap_or(i64::MAX).into(),
    ];
    all(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM asg_decision WHERE chain_id = $1 AND customer_id = $2 AND seq < $3
             ORDER BY seq DESC LIMIT $4"
        ),
        values,
    )
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Which allocation bucket column to count.
#[derive(Debug, Clone, Copy)]
pub enum BucketColumn {
    Day,
    Month,
}

/// Customers allocated per manager in a store's bucket (the Redis balance's source of truth).
pub async fn allocations_in_bucket(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    store_id: &str,
    column: BucketColumn,
    bucket: &str,
) -> Result<Vec<(String, i64)>, Error> {
    let column = match column {
        BucketColumn::Day => "alloc_day",
        BucketColumn::Month => "alloc_month",
    };
    let rows = all(
        conn,
        &format!(
            "SELECT to_manager_id, CAST(COUNT(*) AS BIGINT) FROM asg_decision
             WHERE chain_id = $1 AND store_id = $2 AND {column} = $3 GROUP BY to_manager_id"
        ),
        [chain_id.into(), store_id.into(), bucket.into()],
    )
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect()
}

/// Customers who came to / left `manager_id` in `[start_us, end_us)`.
pub async fn moves_in_period(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    manager_id: &str,
    start_us: i64,
    end_us: i64,
) -> Result<(i64, i64), Error> {
    let row = one(
        conn,
        "SELECT
           CAST(COALESCE(SUM(CASE WHEN to_manager_id = $2 THEN 1 ELSE 0 END), 0) AS BIGINT),
           CAST(COALESCE(SUM(CASE WHEN from_manager_id = $2 THEN 1 ELSE 0 END), 0) AS BIGINT)
         FROM asg_decision
         WHERE chain_id = $1 AND from_manager_id <> to_manager_id
           AND (to_manager_id = $2 OR from_manager_id = $2)
           AND decided_at_us >= $3 AND decided_at_us < $4",
        [
            chain_id.into(),
            manager_id.into(),
            start_us.into(),
            end_us.into(),
        ],
    )
    .await?;
    Ok(match row {
        Some(row) => (row.try_get_by_index(0)?, row.try_get_by_index(1)?),
        None => (0, 0),
    })
}

/// Drops the free-text notes staff wrote about an erased customer.
pub async fn clear_notes(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<(), Error> {
    exec(
        conn,
        "UPDATE asg_decision SET note = '' WHERE chain_id = $1 AND customer_id = $2",
        [chain_id.into(), customer_id.into()],
    )
    .await?;
    Ok(())
}
