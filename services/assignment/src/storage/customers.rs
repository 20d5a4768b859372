//! `asg_customer`: the current ownership of each customer. Every change is an update
//! conditional on the version that was read ([`update_if_version`]), so two replicas
//! deciding for one customer at once cannot both win — whatever Redis says.

use sea_orm::{ConnectionTrait, QueryResult, Value};

use super::{all, exec, one};
use crate::domain::HistoryReason;
use crate::domain::ManagerId;
use crate::domain::ownership::OwnerState;
use crate::domain::roster::ManagerStatus;
use crate::domain::value_lock::ValueLock;
use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CustomerRow {
    pub customer_id: String,
    /// Empty when unassigned.
    pub manager_id: String,
    pub lock: Option<ValueLock>,
    /// The stored name of the reason of the decision that made the owner (or "unassigned").
    pub reason: String,
    pub since_us: i64,
    pub store_id: String,
    pub last_contact_us: i64,
    /// Last paid contact (visit/order), for lock expiry; 0 = none.
    pub last_visit_us: i64,
    pub counted_spend_fen: i64,
    pub erased: bool,
    /// Why a customer without an owner waits in the pool (`PoolReason::as_str`); empty
    /// when owned.
    #[serde(default)]
    pub pool_reason: String,
    pub version: i64,
}

impl CustomerRow {
    /// A customer seen for the first time, owned by nobody yet.
    pub fn new(customer_id: &str, store_id: &str) -> Self {
        Self {
            customer_id: customer_id.to_owned(),
            manager_id: String::new(),
            lock: None,
            reason: String::new(),
            since_us: 0,
            store_id: store_id.to_owned(),
            last_contact_us: 0,
            last_visit_us: 0,
            counted_spend_fen: 0,
            erased: false,
            pool_reason: String::new(),
            version: 0,
        }
    }

    pub fn state(&self) -> OwnerState {
        OwnerState {
            owner: (!self.manager_id.is_empty()).then(|| ManagerId::new(&self.manager_id)),
            lock: self.lock,
        }
    }

    pub fn reason(&self) -> Option<HistoryReason> {
        HistoryReason::parse(&self.reason)
    }

    /// The last paid visit, if any (what lock expiry counts from).
    pub fn last_visit_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        (self.last_visit_us != 0).then(|| crate::time::from_micros(self.last_visit_us))
    }

    /// Applies a new owner state (the domain's `Decision::next`).
    pub fn set_state(&mut self, state: &OwnerState) {
        self.manager_id = state
            .owner
            .as_ref()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default();
        self.lock = state.lock;
    }
}

const COLUMNS: &str = "customer_id, manager_id, lock_json, reason, since_us, store_id, last_contact_us, last_visit_us, counted_spend_fen, erased, pool_reason, version";

fn from_row(row: &QueryResult) -> Result<CustomerRow, Error> {
    let lock_json: String = row.try_get("", "lock_json")?;
    let lock = if lock_json.is_empty() {
        None
    } else {
        Some(
            serde_json::from_str(&lock_json).map_err(|e| Error::Corrupt {
                what: "customer lock",
                reason: e.to_string(),
            })?,
        )
    };
    Ok(CustomerRow {
        customer_id: row.try_get("", "customer_id")?,
        manager_id: row.try_get("", "manager_id")?,
        lock,
        reason: row.try_get("", "reason")?,
        since_us: row.try_get("", "since_us")?,
        store_id: row.try_get("", "store_id")?,
        last_contact_us: row.try_get("", "last_contact_us")?,
        last_visit_us: row.try_get("", "last_visit_us")?,
        counted_spend_fen: row.try_get("", "counted_spend_fen")?,
        erased: row.try_get::<i64>("", "erased")? != 0,
        pool_reason: row.try_get("", "pool_reason")?,
        version: row.try_get("", "version")?,
    })
}

fn lock_json(lock: &Option<ValueLock>) -> Result<String, Error> {
    match lock {
        None => Ok(String::new()),
        Some(lock) => serde_json::to_string(lock).map_err(|e| Error::Corrupt {
            what: "customer lock",
            reason: e.to_string(),
        }),
    }
}

pub async fn get(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<Option<CustomerRow>, Error> {
    one(
        conn,
        &format!("SELECT {COLUMNS} FROM asg_customer WHERE chain_id = $1 AND customer_id = $2"),
        [chain_id.into(), customer_id.into()],
    )
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Like [`get`], and locks the row until the transaction ends (PostgreSQL; SQLite writers
/// are serialised by their IMMEDIATE transaction): two decisions on one customer queue
/// here instead of one of them losing the version check and starting over. In the same
/// read, the status of manager `manager_id` of the chain (`None`: no such manager, or none
/// named) — what a contact through that manager needs, in one round trip instead of two.
pub async fn get_for_update_with_manager(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    manager_id: &str,
) -> Result<Option<(CustomerRow, Option<ManagerStatus>)>, Error> {
    let lock = if maitre_kit::db::is_postgres(conn) {
        " FOR UPDATE"
    } else {
        ""
    };
    let Some(row) = one(
        conn,
        &format!(
            "SELECT {COLUMNS}, (SELECT m.status FROM asg_manager m \
               WHERE m.chain_id = $1 AND m.manager_id = $3) AS via_status \
             FROM asg_customer WHERE chain_id = $1 AND customer_id = $2{lock}"
        ),
        [chain_id.into(), customer_id.into(), manager_id.into()],
    )
    .await?
    else {
        return Ok(None);
    };
    let status = row
        .try_get::<Option<String>>("", "via_status")?
        .map(|s| super::managers::parse_status(&s))
        .transpose()?;
    Ok(Some((from_row(&row)?, status)))
}

/// Inserts `row` as version 1 unless the customer exists; `true` when inserted.
pub async fn insert(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    row: &CustomerRow,
) -> Result<bool, Error> {
    Ok(exec(
        conn,
        &format!(
            "INSERT INTO asg_customer (chain_id, {COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1)
             ON CONFLICT (chain_id, customer_id) DO NOTHING"
        ),
        [
            chain_id.into(),
            row.customer_id.clone().into(),
            row.manager_id.clone().into(),
            lock_json(&row.lock)?.into(),
            row.reason.clone().into(),
            row.since_us.into(),
            row.store_id.clone().into(),
            row.last_contact_us.into(),
            row.last_visit_us.into(),
            row.counted_spend_fen.into(),
            i64::from(row.erased).into(),
            row.pool_reason.clone().into(),
        ],
    )
    .await?
        == 1)
}

/// Customers seen for the first time (`(customer_id, store_id)`), owned by nobody: inserted
/// unless known, one statement per thousand rows.
pub async fn insert_new(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customers: &[(String, String)],
) -> Result<(), Error> {
    for chunk in customers.chunks(1_000) {
        let mut values = Vec::with_capacity(chunk.len() * 13);
        for (customer_id, store_id) in chunk {
            let row = CustomerRow::new(customer_id, store_id);
            values.extend::<[Value; 13]>([
                chain_id.into(),
                row.customer_id.into(),
                row.manager_id.into(),
                lock_json(&row.lock)?.into(),
                row.reason.into(),
                row.since_us.into(),
                row.store_id.into(),
                row.last_contact_us.into(),
                row.last_visit_us.into(),
                row.counted_spend_fen.into(),
                i64::from(row.erased).into(),
                row.pool_reason.into(),
                // A first version, as `insert` writes it.
                1i64.into(),
            ]);
        }
        let rows = maitre_kit::db::value_rows(chunk.len(), 13);
        exec(
            conn,
            &format!(
                "INSERT INTO asg_customer (chain_id, {COLUMNS}) VALUES {rows}
                 ON CONFLICT (chain_id, customer_id) DO NOTHING"
            ),
            values,
        )
        .await?;
    }
    Ok(())
}

/// Writes `row` as version `expected_version + 1` only if the stored version is still
/// `expected_version`; `false` when another decision got there first.
pub async fn update_if_version(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    row: &CustomerRow,
    expected_version: i64,
) -> Result<bool, Error> {
    Ok(exec(
        conn,
        "UPDATE asg_customer SET manager_id = $1, lock_json = $2, reason = $3, since_us = $4, store_id = $5,
           last_contact_us = $6, last_visit_us = $7, counted_spend_fen = $8, erased = $9, version = $10 + 1,
           pool_reason = $13
         WHERE chain_id = $11 AND customer_id = $12 AND version = $10",
        [
            row.manager_id.clone().into(),
            lock_json(&row.lock)?.into(),
            row.reason.clone().into(),
            row.since_us.into(),
            row.store_id.clone().into(),
            row.last_contact_us.into(),
            row.last_visit_us.into(),
            row.counted_spend_fen.into(),
            i64::from(row.erased).into(),
            expected_version.into(),
            chain_id.into(),
            row.customer_id.clone().into(),
            row.pool_reason.clone().into(),
        ],
    )
    .await?
        == 1)
}

pub async fn delete(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<(), Error> {
    exec(
        conn,
        "DELETE FROM asg_customer WHERE chain_id = $1 AND customer_id = $2",
        [chain_id.into(), customer_id.into()],
    )
    .await?;
    Ok(())
}

/// A page (by customer id) of a manager's customers.
pub async fn of_manager(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    manager_id: &str,
    locked_only: bool,
    after: &str,
    limit: u64,
) -> Result<Vec<CustomerRow>, Error> {
    let locked = if locked_only {
        " AND lock_json <> ''"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM asg_customer WHERE chain_id = $1 AND manager_id = $2 AND customer_id > $3{locked}
         ORDER BY customer_id LIMIT $4"
    );
    let values: [Value; 4] = [
        chain_id.into(),
        manager_id.into(),
        after.into(),
        i64::try_from(limit).unwrap_or(i64::MAX).into(),
    ];
    all(conn, &sql, values)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// A page (by customer id) of the unassigned pool, optionally of one store.
pub async fn pool(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    store_id: Option<&str>,
    after: &str,
    limit: u64,
) -> Result<Vec<CustomerRow>, Error> {
    let mut values: Vec<Value> = vec![
        chain_id.into(),
        HistoryReason::Unassigned.as_str().into(),
        after.into(),
        i64::try_from(limit).unwrap_or(i64::MAX).into(),
    ];
    let store = match store_id {
        Some(store_id) => {
            values.push(store_id.into());
            " AND store_id = $5"
        }
        None => "",
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM asg_customer WHERE chain_id = $1 AND reason = $2 AND manager_id = '' AND customer_id > $3{store}
         ORDER BY customer_id LIMIT $4"
    );
    all(conn, &sql, values)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// A page (by customer id) of owned, unlocked customers whose counted spend is at least
/// `min_spend_fen`, optionally of one store: who a lock review may have to lock.
pub async fn unlocked_reaching(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    store_id: Option<&str>,
    min_spend_fen: i64,
    after: &str,
    limit: u64,
) -> Result<Vec<CustomerRow>, Error> {
    let mut values: Vec<Value> = vec![
        chain_id.into(),
        min_spend_fen.into(),
        after.into(),
        i64::try_from(limit).unwrap_or(i64::MAX).into(),
    ];
    let store = match store_id {
        Some(store_id) => {
            values.push(store_id.into());
            " AND store_id = $5"
        }
        None => "",
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM asg_customer
         WHERE chain_id = $1 AND manager_id <> '' AND lock_json = ''
           AND counted_spend_fen >= $2 AND customer_id > $3{store}
         ORDER BY customer_id LIMIT $4"
    );
    all(conn, &sql, values)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Customers a manager owns now, and how many of them are locked.
pub async fn owned_and_locked(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    manager_id: &str,
) -> Result<(i64, i64), Error> {
    let row = one(
        conn,
        "SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(CASE WHEN lock_json <> '' THEN 1 ELSE 0 END), 0) AS BIGINT)
         FROM asg_customer WHERE chain_id = $1 AND manager_id = $2",
        [chain_id.into(), manager_id.into()],
    )
    .await?;
    Ok(match row {
        Some(row) => (row.try_get_by_index(0)?, row.try_get_by_index(1)?),
        None => (0, 0),
    })
}

/// Locked customers of every chain after `(chain_id, customer_id)`, in that order: the
/// lock-expiry sweep's pages.
pub async fn locked_after(
    conn: &impl ConnectionTrait,
    after_chain: &str,
    after_customer: &str,
    limit: u64,
) -> Result<Vec<(String, CustomerRow)>, Error> {
    let rows = all(
        conn,
        &format!(
            "SELECT chain_id, {COLUMNS} FROM asg_customer
             WHERE lock_json <> '' AND (chain_id > $1 OR (chain_id = $1 AND customer_id > $2))
             ORDER BY chain_id, customer_id LIMIT $3"
        ),
        [
            after_chain.into(),
            after_customer.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    )
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("", "chain_id")?, from_row(row)?)))
        .collect()
}
