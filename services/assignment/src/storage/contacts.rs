//! `asg_contact`: contacts that reached the database, keyed by profile's event id — the
//! replay guard of `AssignOnContact` and the spend ledger the value lock (lifetime or a
//! rolling window) and manager revenue are computed from.

use sea_orm::{ConnectionTrait, Value};

use super::{all, exec, scalar};
use crate::domain::value_lock::SpendEntry;
use crate::error::Error;
use crate::time::from_micros;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRow {
    pub source_event_id: String,
    pub customer_id: String,
    pub store_id: String,
    pub manager_id: String,
    pub amount_fen: i64,
    pub occurred_at_us: i64,
}

/// Records the contact unless its event id is known; `false` for a replay.
pub async fn record(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    contact: &ContactRow,
) -> Result<bool, Error> {
    Ok(exec(
        conn,
        "INSERT INTO asg_contact (chain_id, source_event_id, customer_id, store_id, manager_id, amount_fen, occurred_at_us)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (chain_id, source_event_id) DO NOTHING",
        [
            chain_id.into(),
            contact.source_event_id.clone().into(),
            contact.customer_id.clone().into(),
            contact.store_id.clone().into(),
            contact.manager_id.clone().into(),
            contact.amount_fen.into(),
            contact.occurred_at_us.into(),
        ],
    )
    .await?
        == 1)
}

/// Rows per multi-row INSERT: 7 parameters each stays far below SQLite's and PostgreSQL's
/// bound-parameter limits.
const INSERT_CHUNK: usize = 1_000;

/// Records every contact whose event id is not known yet, in one statement per
/// [`INSERT_CHUNK`]: the event ids recorded now (the others are replays).
pub async fn record_all(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    contacts: &[ContactRow],
) -> Result<std::collections::HashSet<String>, Error> {
    let mut fresh = std::collections::HashSet::with_capacity(contacts.len());
    for chunk in contacts.chunks(INSERT_CHUNK) {
        let values = chunk.iter().flat_map(|c| -> [Value; 7] {
            [
                chain_id.into(),
                c.source_event_id.clone().into(),
                c.customer_id.clone().into(),
                c.store_id.clone().into(),
                c.manager_id.clone().into(),
                c.amount_fen.into(),
                c.occurred_at_us.into(),
            ]
        });
        let sql = format!(
            "INSERT INTO asg_contact (chain_id, source_event_id, customer_id, store_id, manager_id, amount_fen, occurred_at_us)
             VALUES {} ON CONFLICT (chain_id, source_event_id) DO NOTHING RETURNING source_event_id",
            maitre_kit::db::value_rows(chunk.len(), 7)
        );
        for row in all(conn, &sql, values).await? {
            fresh.insert(row.try_get::<String>("", "source_event_id")?);
        }
    }
    Ok(fresh)
}

/// The customer's paid contacts up to `until_us` (and after `since_us` for a window),
/// except `exclude_event` — the input of `value_lock::counted_spend_fen`.
pub async fn spend_entries(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    exclude_event: &str,
    since_us: Option<i64>,
    until_us: i64,
) -> Result<Vec<SpendEntry>, Error> {
    let values: [Value; 5] = [
        chain_id.into(),
        customer_id.into(),
        exclude_event.into(),
        until_us.into(),
        since_us.unwrap_or(i64::MIN).into(),
    ];
    let rows = all(
        conn,
        "SELECT occurred_at_us, amount_fen FROM asg_contact
         WHERE chain_id = $1 AND customer_id = $2 AND source_event_id <> $3 AND amount_fen <> 0
           AND occurred_at_us <= $4 AND occurred_at_us > $5",
        values,
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(SpendEntry {
                at: from_micros(row.try_get_by_index(0)?),
                amount_fen: row.try_get_by_index(1)?,
            })
        })
        .collect()
}

/// Spend in `[start_us, end_us)` of the customers `manager_id` owns now.
pub async fn revenue_of_owned(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    manager_id: &str,
    start_us: i64,
    end_us: i64,
) -> Result<i64, Error> {
    scalar(
        conn,
        "SELECT CAST(COALESCE(SUM(k.amount_fen), 0) AS BIGINT) FROM asg_contact k
         JOIN asg_customer c ON c.chain_id = k.chain_id AND c.customer_id = k.customer_id
         WHERE k.chain_id = $1 AND c.manager_id = $2 AND k.occurred_at_us >= $3 AND k.occurred_at_us < $4",
        [
            chain_id.into(),
            manager_id.into(),
            start_us.into(),
            end_us.into(),
        ],
    )
    .await
}

/// Re-points an absorbed customer's contacts to the survivor of a merge.
pub async fn repoint(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    from_customer: &str,
    to_customer: &str,
) -> Result<(), Error> {
    exec(
        conn,
        "UPDATE asg_contact SET customer_id = $1 WHERE chain_id = $2 AND customer_id = $3",
        [to_customer.into(), chain_id.into(), from_customer.into()],
    )
    .await?;
    Ok(())
}
