//! Counts of one manager's follow-up work (for assignment's manager stats), optionally
//! limited to customers of some stores (a store manager's scope).

use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, Value};

use super::placeholders;
use crate::error::Result;

/// A manager's counts: plans completed and records made in `[start, end)`, plans overdue at
/// `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub plans_completed: i64,
    pub records: i64,
    pub plans_overdue: i64,
}

/// The window of one manager's counts.
pub struct Period {
    pub start_us: i64,
    pub end_us: i64,
    pub now_us: i64,
}

pub async fn of_manager(
    conn: &impl ConnectionTrait,
    chain: &str,
    manager_id: &str,
    period: &Period,
    stores: Option<&[String]>,
) -> Result<Summary> {
    // $1 chain, $2 manager, $3 start, $4 end, $5 now, then the stores.
    let mut values: Vec<Value> = vec![
        chain.into(),
        manager_id.into(),
        period.start_us.into(),
        period.end_us.into(),
        period.now_us.into(),
    ];
    let scope = |alias: &str| match stores {
        None => String::new(),
        Some(stores) => format!(
            " AND EXISTS (SELECT 1 FROM customer_stores s WHERE s.chain_id = {alias}.chain_id \
             AND s.customer_id = {alias}.customer_id AND s.store_id IN ({}))",
            placeholders(6, stores.len().max(1))
        ),
    };
    if let Some(stores) = stores {
        if stores.is_empty() {
            values.push("".into()); // no store: nothing is in scope
        }
        values.extend(stores.iter().map(|s| Value::from(s.clone())));
    }
    let sql = format!(
        "SELECT \
           (SELECT COUNT(*) FROM followup_plans p WHERE p.chain_id = $1 AND p.manager_id = $2 \
              AND p.completed_at_us >= $3 AND p.completed_at_us < $4 AND p.superseded_by = ''{plans}) AS completed, \
           (SELECT COUNT(*) FROM followup_records r WHERE r.chain_id = $1 AND r.manager_id = $2 \
              AND r.occurred_at_us >= $3 AND r.occurred_at_us < $4{records}) AS records, \
           (SELECT COUNT(*) FROM followup_plans p WHERE p.chain_id = $1 AND p.manager_id = $2 \
              AND p.completed_at_us IS NULL AND p.due_at_us < $5{plans}) AS overdue",
        plans = scope("p"),
        records = scope("r"),
    );
    let row = conn.query_one_raw(stmt(conn, &sql, values)).await?;
    let count = |name: &str| -> Result<i64> {
        Ok(match &row {
            Some(row) => row.try_get::<i64>("", name)?,
            None => 0,
        })
    };
    Ok(Summary {
        plans_completed: count("completed")?,
        records: count("records")?,
        plans_overdue: count("overdue")?,
    })
}
