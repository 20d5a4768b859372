//! The `followup_records` and `followup_plans` tables (跟进记录, 跟进计划).

use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, FromQueryResult, Value};

use super::{col, count_value, fetch_all, fetch_one, placeholders, read_row};
use crate::domain::followup::{PlanOrigin, supersession};
use crate::error::Result;

/// One stored follow-up record.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct RecordRow {
    pub record_id: String,
    pub customer_id: String,
    pub manager_id: String,
    /// `FollowUpKind` number of the contract.
    pub kind: i32,
    pub content: String,
    pub occurred_at_us: i64,
    pub plan_id: String,
}

/// One stored follow-up plan.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct PlanRow {
    pub plan_id: String,
    pub customer_id: String,
    pub manager_id: String,
    pub kind: i32,
    pub title: String,
    pub due_at_us: i64,
    /// "manual", "class_rule" or "automation:<automation id>".
    pub source: String,
    /// When completed, or superseded.
    pub completed_at_us: Option<i64>,
    pub record_id: String,
    /// The contact event that generated it ("" for manual plans).
    pub source_event_id: String,
    /// The newer plan that superseded it ("" unless superseded).
    pub superseded_by: String,
}

impl PlanRow {
    /// What made the plan: its contact event (one visit's plans stand together), else itself.
    fn occasion(&self) -> &str {
        if self.source_event_id.is_empty() {
            &self.plan_id
        } else {
            &self.source_event_id
        }
    }
}

const RECORD_COLUMNS: &str =
    "record_id, customer_id, manager_id, kind, content, occurred_at_us, plan_id";
const PLAN_COLUMNS: &str = "plan_id, customer_id, manager_id, kind, title, due_at_us, source, \
     completed_at_us, record_id, source_event_id, superseded_by";

/// Stores a record.
pub async fn insert_record(
    conn: &impl ConnectionTrait,
    chain: &str,
    r: &RecordRow,
    now_us: i64,
) -> Result<()> {
    conn.execute_raw(stmt(
        conn,
        &format!(
            "INSERT INTO followup_records (chain_id, {RECORD_COLUMNS}, created_at_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ),
        [
            chain.into(),
            r.record_id.clone().into(),
            r.customer_id.clone().into(),
            r.manager_id.clone().into(),
            r.kind.into(),
            r.content.clone().into(),
            r.occurred_at_us.into(),
            r.plan_id.clone().into(),
            now_us.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// One record of the chain.
pub async fn get_record(
    conn: &impl ConnectionTrait,
    chain: &str,
    record_id: &str,
) -> Result<Option<RecordRow>> {
    fetch_one(
        conn,
        &format!(
            "SELECT {RECORD_COLUMNS} FROM followup_records WHERE chain_id = $1 AND record_id = $2"
        ),
        [chain.into(), record_id.into()],
        read_row::<RecordRow>,
    )
    .await
}

/// Records of a customer and/or a manager, newest first.
pub async fn list_records(
    conn: &impl ConnectionTrait,
    chain: &str,
    customer_id: Option<&str>,
    manager_id: Option<&str>,
    offset: u64,
    limit: u64,
) -> Result<Vec<RecordRow>> {
    let mut values: Vec<Value> = vec![chain.into(), count_value(limit), count_value(offset)];
    let mut filter = String::new();
    if let Some(customer) = customer_id {
        values.push(customer.into());
        filter.push_str(&format!(" AND customer_id = ${}", values.len()));
    }
    if let Some(manager) = manager_id {
        values.push(manager.into());
        filter.push_str(&format!(" AND manager_id = ${}", values.len()));
    }
    fetch_all(
        conn,
        &format!(
            "SELECT {RECORD_COLUMNS} FROM followup_records WHERE chain_id = $1{filter} \
                 ORDER BY occurred_at_us DESC, record_id DESC LIMIT $2 OFFSET $3"
        ),
        values,
        read_row::<RecordRow>,
    )
    .await
}

/// Stores a plan.
pub async fn insert_plan(
    conn: &impl ConnectionTrait,
    chain: &str,
    p: &PlanRow,
    now_us: i64,
) -> Result<()> {
    insert_plans(conn, chain, std::slice::from_ref(p), now_us).await
}

/// Inserts several plans with one statement (per few thousand plans).
pub async fn insert_plans(
    conn: &impl ConnectionTrait,
    chain: &str,
    plans: &[PlanRow],
    now_us: i64,
) -> Result<()> {
    let mut writes = super::writes::Writes::default();
    plans_into(&mut writes, chain, plans, now_us);
    writes.run(conn).await
}

/// Adds the INSERT of plans to `writes`, and their supersession (`domain::followup::supersession`):
/// a plan from the class rule or an automation closes the guest's open plans of that source made on
/// another occasion, stored before or earlier in `plans`. The UPDATE goes first: on SQLite the
/// statements run in order, on PostgreSQL they share one snapshot; either way it never sees the new
/// rows.
pub fn plans_into(writes: &mut super::writes::Writes, chain: &str, plans: &[PlanRow], now_us: i64) {
    let origins: Vec<PlanOrigin<'_>> = plans
        .iter()
        .map(|p| PlanOrigin {
            customer_id: &p.customer_id,
            source: &p.source,
            occasion: p.occasion(),
        })
        .collect();
    let outcome = supersession(&origins);
    let closing: Vec<Value> = outcome
        .survivors
        .iter()
        .flat_map(|&i| {
            let p = &plans[i];
            [
                chain.into(),
                p.customer_id.clone().into(),
                p.source.clone().into(),
                p.occasion().to_owned().into(),
                p.plan_id.clone().into(),
                now_us.into(),
            ]
        })
        .collect();
    // VALUES columns are column1… on both PostgreSQL and SQLite.
    writes.add_rows(
        "UPDATE followup_plans SET completed_at_us = v.column6, superseded_by = v.column5 FROM (",
        ") AS v WHERE followup_plans.chain_id = v.column1 AND followup_plans.customer_id = v.column2 \
         AND followup_plans.source = v.column3 AND followup_plans.source_event_id <> v.column4 \
         AND followup_plans.completed_at_us IS NULL",
        6,
        closing,
    );
    let values = plans
        .iter()
        .zip(&outcome.superseded_by)
        .flat_map(|(p, superseded_by)| {
            let superseded_by = superseded_by.map(|i| plans[i].plan_id.clone());
            let completed_at_us = match &superseded_by {
                Some(_) => Some(now_us),
                None => p.completed_at_us,
            };
            [
                chain.into(),
                p.plan_id.clone().into(),
                p.customer_id.clone().into(),
                p.manager_id.clone().into(),
                p.kind.into(),
                p.title.clone().into(),
                p.due_at_us.into(),
                p.source.clone().into(),
                completed_at_us.into(),
                p.record_id.clone().into(),
                p.source_event_id.clone().into(),
                superseded_by
                    .unwrap_or_else(|| p.superseded_by.clone())
                    .into(),
                now_us.into(),
            ]
        })
        .collect();
    writes.add_rows(
        &format!("INSERT INTO followup_plans (chain_id, {PLAN_COLUMNS}, created_at_us)"),
        "",
        13,
        values,
    );
}

/// One plan of the chain.
pub async fn get_plan(
    conn: &impl ConnectionTrait,
    chain: &str,
    plan_id: &str,
) -> Result<Option<PlanRow>> {
    fetch_one(
        conn,
        &format!("SELECT {PLAN_COLUMNS} FROM followup_plans WHERE chain_id = $1 AND plan_id = $2"),
        [chain.into(), plan_id.into()],
        read_row::<PlanRow>,
    )
    .await
}

/// Marks a plan completed (only if still open); true when it changed.
pub async fn complete_plan(
    conn: &impl ConnectionTrait,
    chain: &str,
    plan_id: &str,
    record_id: &str,
    now_us: i64,
) -> Result<bool> {
    let done = conn
        .execute_raw(stmt(
            conn,
            "UPDATE followup_plans SET completed_at_us = $3, record_id = $4 \
             WHERE chain_id = $1 AND plan_id = $2 AND completed_at_us IS NULL",
            [
                chain.into(),
                plan_id.into(),
                now_us.into(),
                record_id.into(),
            ],
        ))
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Which plans to list.
#[derive(Debug, Clone, Default)]
pub struct PlanFilter {
    pub manager_id: Option<String>,
    pub customer_id: Option<String>,
    /// Open plans; closed ones (completed, or superseded when `superseded` too); or both when
    /// `None`.
    pub completed: Option<bool>,
    /// With `completed: Some(true)`, whether superseded plans are listed with the completed ones.
    pub superseded: bool,
    /// Only open plans due before this time (due and overdue).
    pub due_before_us: Option<i64>,
    /// Only open plans due at or after this time (not yet due).
    pub due_from_us: Option<i64>,
}

/// Plans matching `filter`, earliest due first.
pub async fn list_plans(
    conn: &impl ConnectionTrait,
    chain: &str,
    filter: &PlanFilter,
    offset: u64,
    limit: u64,
) -> Result<Vec<PlanRow>> {
    let mut values: Vec<Value> = vec![chain.into(), count_value(limit), count_value(offset)];
    let mut clauses = Vec::new();
    let mut push = |sql: &str, value: Value| {
        values.push(value);
        clauses.push(sql.replace('?', &format!("${}", values.len())));
    };
    if let Some(m) = &filter.manager_id {
        push("manager_id = ?", m.clone().into());
    }
    if let Some(c) = &filter.customer_id {
        push("customer_id = ?", c.clone().into());
    }
    if let Some(before) = filter.due_before_us {
        push("due_at_us < ?", before.into());
    }
    if let Some(from) = filter.due_from_us {
        push("due_at_us >= ?", from.into());
    }
    match filter.completed {
        Some(true) if filter.superseded => clauses.push("completed_at_us IS NOT NULL".into()),
        Some(true) => {
            clauses.push("completed_at_us IS NOT NULL AND superseded_by = ''".into());
        }
        Some(false) => clauses.push("completed_at_us IS NULL".into()),
        None => {}
    }
    let extra: String = clauses.iter().map(|c| format!(" AND {c}")).collect();
    fetch_all(
        conn,
        &format!(
            "SELECT {PLAN_COLUMNS} FROM followup_plans WHERE chain_id = $1{extra} \
                 ORDER BY due_at_us, plan_id LIMIT $2 OFFSET $3"
        ),
        values,
        read_row::<PlanRow>,
    )
    .await
}

/// Gives the customer's open plans that nobody holds to their owner — the one effect of
/// learning an owner, whether from `AssignOnContact`'s answer or from assignment's
/// `OwnerChanged` (an owner decided on profile's stream after an import or a failed call).
/// A plan someone holds stays with them.
pub async fn hand_unheld_plans_to_owner(
    conn: &impl ConnectionTrait,
    chain: &str,
    customer_id: &str,
    manager_id: &str,
) -> Result<()> {
    if manager_id.is_empty() {
        return Ok(());
    }
    conn.execute_raw(stmt(
        conn,
        "UPDATE followup_plans SET manager_id = $3 \
         WHERE chain_id = $1 AND customer_id = $2 AND manager_id = '' AND completed_at_us IS NULL",
        [chain.into(), customer_id.into(), manager_id.into()],
    ))
    .await?;
    Ok(())
}

/// Moves records and plans of the absorbed customers to the survivor (merge).
pub async fn repoint(
    conn: &impl ConnectionTrait,
    chain: &str,
    absorbed: &[String],
    survivor: &str,
) -> Result<()> {
    if absorbed.is_empty() {
        return Ok(());
    }
    for table in ["followup_records", "followup_plans"] {
        let mut values: Vec<Value> = vec![chain.into(), survivor.into()];
        values.extend(absorbed.iter().map(|a| Value::from(a.clone())));
        conn.execute_raw(stmt(
            conn,
            &format!(
                "UPDATE {table} SET customer_id = $2 WHERE chain_id = $1 AND customer_id IN ({})",
                placeholders(3, absorbed.len())
            ),
            values,
        ))
        .await?;
    }
    Ok(())
}

/// An open plan whose due (or overdue) moment has not been announced yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unannounced {
    pub chain_id: String,
    pub plan: PlanRow,
    pub overdue: bool,
}

/// Open plans of every chain that became due (due before `due_before_us`) or overdue
/// (due before `now_us`) and were not announced as such; earliest first.
pub async fn unannounced(
    conn: &impl ConnectionTrait,
    due_before_us: i64,
    now_us: i64,
    limit: u64,
) -> Result<Vec<Unannounced>> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT chain_id, {PLAN_COLUMNS}, due_announced FROM followup_plans \
                 WHERE completed_at_us IS NULL AND overdue_announced = 0 \
                 AND ((due_announced = 0 AND due_at_us < $1) OR due_at_us < $2) \
                 ORDER BY due_at_us, plan_id LIMIT $3"
            ),
            [due_before_us.into(), now_us.into(), count_value(limit)],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            let plan: PlanRow = read_row(r)?;
            Ok(Unannounced {
                chain_id: col(r, "chain_id")?,
                overdue: plan.due_at_us < now_us,
                plan,
            })
        })
        .collect()
}

/// Marks a plan announced as due (and as overdue when `overdue`).
pub async fn mark_announced(
    conn: &impl ConnectionTrait,
    chain: &str,
    plan_id: &str,
    overdue: bool,
) -> Result<()> {
    conn.execute_raw(stmt(
        conn,
        "UPDATE followup_plans SET due_announced = 1, overdue_announced = $3 \
         WHERE chain_id = $1 AND plan_id = $2",
        [chain.into(), plan_id.into(), i32::from(overdue).into()],
    ))
    .await?;
    Ok(())
}
