//! The roster tables: `asg_manager` and `asg_manager_store`.
//!
//! How many customers a manager owns is counted from `asg_customer` (indexed by manager),
//! not kept in a counter on the manager row: a counter row every ownership change updates
//! serialises all changes of a manager's customers on one row lock (a store's handful of
//! managers would cap the chain at one commit at a time). Capacity is guarded where a rule
//! needs it by locking the receiving manager's row and counting ([`has_room`]).

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, QueryResult, Value};

use super::{all, exec, one, scalar};
use crate::domain::roster::{Manager, ManagerStatus};
use crate::domain::{ManagerId, StoreId};
use crate::error::Error;

/// The stored name of a status.
pub fn status_name(status: ManagerStatus) -> &'static str {
    match status {
        ManagerStatus::OnDuty => "on_duty",
        ManagerStatus::OffDuty => "off_duty",
        ManagerStatus::Left => "left",
    }
}

pub(crate) fn parse_status(name: &str) -> Result<ManagerStatus, Error> {
    match name {
        "on_duty" => Ok(ManagerStatus::OnDuty),
        "off_duty" => Ok(ManagerStatus::OffDuty),
        "left" => Ok(ManagerStatus::Left),
        other => Err(Error::Corrupt {
            what: "manager status",
            reason: other.to_owned(),
        }),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerRow {
    pub manager_id: String,
    pub name: String,
    /// 0 = unlimited.
    pub capacity: i64,
    pub status: ManagerStatus,
    pub roster_position: i64,
    pub owned_count: i64,
    pub store_ids: Vec<String>,
}

impl ManagerRow {
    pub fn to_domain(&self) -> Manager {
        Manager {
            id: ManagerId::new(&self.manager_id),
            store_ids: self.store_ids.iter().map(StoreId::new).collect(),
            status: self.status,
            max_customers: u64::try_from(self.capacity).ok().filter(|max| *max > 0),
        }
    }

    pub fn owned(&self) -> u64 {
        u64::try_from(self.owned_count).unwrap_or(0)
    }
}

/// The selected columns of `asg_manager m`, with the owned count.
const COLUMNS: &str = "m.manager_id, m.name, m.capacity, m.status, m.roster_position, \
     (SELECT COUNT(*) FROM asg_customer c WHERE c.chain_id = m.chain_id AND c.manager_id = m.manager_id) AS owned_count";

fn from_row(row: &QueryResult) -> Result<ManagerRow, Error> {
    Ok(ManagerRow {
        manager_id: row.try_get("", "manager_id")?,
        name: row.try_get("", "name")?,
        capacity: row.try_get("", "capacity")?,
        status: parse_status(&row.try_get::<String>("", "status")?)?,
        roster_position: row.try_get("", "roster_position")?,
        owned_count: row.try_get("", "owned_count")?,
        store_ids: Vec::new(),
    })
}

/// `$start, $start+1, …` for an IN list of `count` values.
pub(crate) fn placeholders(start: usize, count: usize) -> String {
    (start..start + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn with_stores(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    mut managers: Vec<ManagerRow>,
) -> Result<Vec<ManagerRow>, Error> {
    if managers.is_empty() {
        return Ok(managers);
    }
    let sql = format!(
        "SELECT manager_id, store_id FROM asg_manager_store WHERE chain_id = $1 AND manager_id IN ({}) ORDER BY store_id",
        placeholders(2, managers.len())
    );
    let mut values: Vec<Value> = vec![chain_id.into()];
    values.extend(managers.iter().map(|m| Value::from(m.manager_id.clone())));
    let mut stores: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in all(conn, &sql, values).await? {
        stores
            .entry(row.try_get("", "manager_id")?)
            .or_default()
            .push(row.try_get("", "store_id")?);
    }
    for manager in &mut managers {
        manager.store_ids = stores.remove(&manager.manager_id).unwrap_or_default();
    }
    Ok(managers)
}

pub async fn get(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    manager_id: &str,
) -> Result<Option<ManagerRow>, Error> {
    let row = one(
        conn,
        &format!("SELECT {COLUMNS} FROM asg_manager m WHERE m.chain_id = $1 AND m.manager_id = $2"),
        [chain_id.into(), manager_id.into()],
    )
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(with_stores(conn, chain_id, vec![from_row(&row)?])
        .await?
        .pop())
}

/// A page of managers by id, optionally of one store and/or in one status.
pub async fn list(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    store_id: Option<&str>,
    status: Option<ManagerStatus>,
    after: &str,
    limit: u64,
) -> Result<Vec<ManagerRow>, Error> {
    let mut sql =
        format!("SELECT {COLUMNS} FROM asg_manager m WHERE m.chain_id = $1 AND m.manager_id > $2");
    let mut values: Vec<Value> = vec![chain_id.into(), after.into()];
    if let Some(store_id) = store_id {
        values.push(store_id.into());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM asg_manager_store s WHERE s.chain_id = m.chain_id AND s.manager_id = m.manager_id AND s.store_id = ${})",
            values.len()
        ));
    }
    if let Some(status) = status {
        values.push(status_name(status).into());
        sql.push_str(&format!(" AND m.status = ${}", values.len()));
    }
    values.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
    sql.push_str(&format!(" ORDER BY m.manager_id LIMIT ${}", values.len()));
    let rows = all(conn, &sql, values).await?;
    let managers = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    with_stores(conn, chain_id, managers).await
}

/// Every manager of the store (any status): the store's roster.
pub async fn of_store(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    store_id: &str,
) -> Result<Vec<ManagerRow>, Error> {
    list(conn, chain_id, Some(store_id), None, "", u64::MAX >> 2).await
}

/// Creates or replaces a manager (name, capacity, status, stores).
pub async fn upsert(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    manager: &ManagerRow,
    now_us: i64,
) -> Result<(), Error> {
    exec(
        conn,
        "INSERT INTO asg_manager (chain_id, manager_id, name, capacity, status, roster_position, updated_at_us)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (chain_id, manager_id) DO UPDATE SET name = excluded.name, capacity = excluded.capacity,
           status = excluded.status, roster_position = excluded.roster_position, updated_at_us = excluded.updated_at_us",
        [
            chain_id.into(),
            manager.manager_id.clone().into(),
            manager.name.clone().into(),
            manager.capacity.into(),
            status_name(manager.status).into(),
            manager.roster_position.into(),
            now_us.into(),
        ],
    )
    .await?;
    exec(
        conn,
        "DELETE FROM asg_manager_store WHERE chain_id = $1 AND manager_id = $2",
        [chain_id.into(), manager.manager_id.clone().into()],
    )
    .await?;
    for store_id in &manager.store_ids {
        exec(
            conn,
            "INSERT INTO asg_manager_store (chain_id, store_id, manager_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            [chain_id.into(), store_id.clone().into(), manager.manager_id.clone().into()],
        )
        .await?;
    }
    Ok(())
}

pub async fn set_status(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    manager_id: &str,
    status: ManagerStatus,
    now_us: i64,
) -> Result<bool, Error> {
    Ok(exec(
        conn,
        "UPDATE asg_manager SET status = $1, updated_at_us = $2 WHERE chain_id = $3 AND manager_id = $4",
        [
            status_name(status).into(),
            now_us.into(),
            chain_id.into(),
            manager_id.into(),
        ],
    )
    .await?
        == 1)
}

/// The next free roster position of the chain.
pub async fn next_position(conn: &impl ConnectionTrait, chain_id: &str) -> Result<i64, Error> {
    Ok(scalar(
        conn,
        "SELECT CAST(COALESCE(MAX(roster_position), 0) AS BIGINT) FROM asg_manager WHERE chain_id = $1",
        [chain_id.into()],
    )
    .await?
        + 1)
}

/// Whether the manager may keep one more customer, checked inside the transaction that has
/// just moved a customer to them (so the count includes that customer) — the SQL half of
/// the capacity rule. The manager's row is locked first (PostgreSQL; SQLite writers are
/// serialised anyway), so two replicas allocating the last free place count one after the
/// other and one of them is refused. `false` also when the manager does not exist.
pub async fn has_room(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    manager_id: &str,
) -> Result<bool, Error> {
    let lock = if maitre_kit::db::is_postgres(conn) {
        " FOR UPDATE"
    } else {
        ""
    };
    let capacity = one(
        conn,
        &format!("SELECT capacity FROM asg_manager WHERE chain_id = $1 AND manager_id = $2{lock}"),
        [chain_id.into(), manager_id.into()],
    )
    .await?;
    let Some(capacity) = capacity else {
        return Ok(false);
    };
    let capacity: i64 = capacity.try_get("", "capacity")?;
    if capacity == 0 {
        return Ok(true);
    }
    let owned = scalar(
        conn,
        "SELECT COUNT(*) FROM asg_customer WHERE chain_id = $1 AND manager_id = $2",
        [chain_id.into(), manager_id.into()],
    )
    .await?;
    Ok(owned <= capacity)
}
