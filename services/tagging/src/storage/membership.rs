//! Tag membership (`tag_membership`: who carries which tag now, and why) and its history
//! (`tag_history`: every add and remove with actor and reason, kept when a tag retires).
//! Membership rows are the source of truth; the in-memory bitmaps are rebuilt from them.

use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use super::col;

#[derive(Debug, Clone, PartialEq)]
pub struct MembershipRow {
    pub tag_id: String,
    pub customer_id: String,
    pub number: u32,
    pub source: i64,
    pub rule_version: i64,
    pub actor: String,
    pub added_at_us: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub id: i64,
    pub tag_id: String,
    pub customer_id: String,
    pub added: bool,
    pub actor: String,
    pub reason: String,
    pub changed_at_us: i64,
}

const COLUMNS: &str = "tag_id, customer_id, number, source, rule_version, actor, added_at_us";

fn from_row(row: &QueryResult) -> Result<MembershipRow, DbErr> {
    Ok(MembershipRow {
        tag_id: col(row, 0)?,
        customer_id: col(row, 1)?,
        number: u32::try_from(col::<i64>(row, 2)?)
            .map_err(|_| DbErr::Custom("customer number out of range".into()))?,
        source: col(row, 3)?,
        rule_version: col(row, 4)?,
        actor: col(row, 5)?,
        added_at_us: col(row, 6)?,
    })
}

/// Adds the membership; false when the customer already had the tag.
pub async fn insert_membership(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    m: &MembershipRow,
) -> Result<bool, DbErr> {
    let result = conn
        .execute_raw(stmt(
            conn,
            &format!(
                "INSERT INTO tag_membership (chain_id, {COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (chain_id, tag_id, customer_id) DO NOTHING"
            ),
            [
                chain_id.into(),
                m.tag_id.clone().into(),
                m.customer_id.clone().into(),
                i64::from(m.number).into(),
                m.source.into(),
                m.rule_version.into(),
                m.actor.clone().into(),
                m.added_at_us.into(),
            ],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Removes the membership; false when the customer did not have the tag.
pub async fn delete_membership(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    tag_id: &str,
    customer_id: &str,
) -> Result<bool, DbErr> {
    let result = conn
        .execute_raw(stmt(
            conn,
            "DELETE FROM tag_membership WHERE chain_id = $1 AND tag_id = $2 AND customer_id = $3",
            [chain_id.into(), tag_id.into(), customer_id.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_history(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    tag_id: &str,
    customer_id: &str,
    added: bool,
    actor: &str,
    reason: &str,
    changed_at_us: i64,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO tag_history (chain_id, tag_id, customer_id, added, actor, reason, changed_at_us)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            chain_id.into(),
            tag_id.into(),
            customer_id.into(),
            i64::from(added).into(),
            actor.into(),
            reason.into(),
            changed_at_us.into(),
        ],
    ))
    .await?;
    Ok(())
}

pub async fn memberships_of(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<Vec<MembershipRow>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT {COLUMNS} FROM tag_membership WHERE chain_id = $1 AND customer_id = $2 ORDER BY tag_id"
            ),
            [chain_id.into(), customer_id.into()],
        ))
        .await?;
    rows.iter().map(from_row).collect()
}

/// Memberships of the customers numbered in `[from, to)`.
pub async fn memberships_in_range(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    from: u32,
    to: u32,
) -> Result<Vec<MembershipRow>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT {COLUMNS} FROM tag_membership WHERE chain_id = $1 AND number >= $2 AND number < $3"
            ),
            [chain_id.into(), i64::from(from).into(), i64::from(to).into()],
        ))
        .await?;
    rows.iter().map(from_row).collect()
}

/// Every membership of one tag.
pub async fn members_of_tag(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    tag_id: &str,
) -> Result<Vec<MembershipRow>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!("SELECT {COLUMNS} FROM tag_membership WHERE chain_id = $1 AND tag_id = $2"),
            [chain_id.into(), tag_id.into()],
        ))
        .await?;
    rows.iter().map(from_row).collect()
}

/// A page of a tag's member ids, by customer id after `after_customer`.
pub async fn member_page(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    tag_id: &str,
    after_customer: &str,
    limit: u64,
) -> Result<Vec<String>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT customer_id FROM tag_membership WHERE chain_id = $1 AND tag_id = $2 AND customer_id > $3
             ORDER BY customer_id LIMIT $4",
            [chain_id.into(), tag_id.into(), after_customer.into(), (limit as i64).into()],
        ))
        .await?;
    rows.iter().map(|r| col(r, 0)).collect()
}

/// [`member_page`] limited to the customers known at `stores` (a store-scoped caller's view).
pub async fn member_page_at_stores(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    tag_id: &str,
    stores: &[String],
    after_customer: &str,
    limit: u64,
) -> Result<Vec<String>, DbErr> {
    if stores.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..stores.len()).map(|i| format!("${}", i + 5)).collect();
    let values = [
        sea_orm::Value::from(chain_id),
        tag_id.into(),
        after_customer.into(),
        (limit as i64).into(),
    ]
    .into_iter()
    .chain(stores.iter().map(|s| sea_orm::Value::from(s.as_str())));
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT m.customer_id FROM tag_membership m WHERE m.chain_id = $1 AND m.tag_id = $2
                   AND m.customer_id > $3
                   AND EXISTS (SELECT 1 FROM tag_customer_store s WHERE s.chain_id = m.chain_id
                                 AND s.customer_id = m.customer_id AND s.store_id IN ({}))
                 ORDER BY m.customer_id LIMIT $4",
                placeholders.join(", ")
            ),
            values,
        ))
        .await?;
    rows.iter().map(|r| col(r, 0)).collect()
}

pub async fn member_count(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    tag_id: &str,
) -> Result<i64, DbErr> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            "SELECT COUNT(*) FROM tag_membership WHERE chain_id = $1 AND tag_id = $2",
            [chain_id.into(), tag_id.into()],
        ))
        .await?;
    row.map_or(Ok(0), |r| col(&r, 0))
}

/// `(tag_id, number)` of every membership of the chain (to build the bitmaps).
pub async fn all_memberships(
    conn: &impl ConnectionTrait,
    chain_id: &str,
) -> Result<Vec<(String, u32)>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT tag_id, number FROM tag_membership WHERE chain_id = $1",
            [chain_id.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            let number = u32::try_from(col::<i64>(r, 1)?)
                .map_err(|_| DbErr::Custom("customer number out of range".into()))?;
            Ok((col(r, 0)?, number))
        })
        .collect()
}

/// History newest first, optionally for one customer and/or one tag, before id `before`
/// (`i64::MAX` for the first page).
pub async fn history_page(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    tag_id: &str,
    before: i64,
    limit: u64,
) -> Result<Vec<HistoryRow>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT id, tag_id, customer_id, added, actor, reason, changed_at_us FROM tag_history
             WHERE chain_id = $1 AND ($2 = '' OR customer_id = $2) AND ($3 = '' OR tag_id = $3) AND id < $4
             ORDER BY id DESC LIMIT $5",
            [
                chain_id.into(),
                customer_id.into(),
                tag_id.into(),
                before.into(),
                (limit as i64).into(),
            ],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(HistoryRow {
                id: col(r, 0)?,
                tag_id: col(r, 1)?,
                customer_id: col(r, 2)?,
                added: col::<i64>(r, 3)? != 0,
                actor: col(r, 4)?,
                reason: col(r, 5)?,
                changed_at_us: col(r, 6)?,
            })
        })
        .collect()
}

/// Forgets an erased customer's history (the erasure covers it).
pub async fn delete_history_of(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "DELETE FROM tag_history WHERE chain_id = $1 AND customer_id = $2",
        [chain_id.into(), customer_id.into()],
    ))
    .await?;
    Ok(())
}

/// Memberships of `customer_ids`.
pub async fn memberships_of_customers(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_ids: &[String],
) -> Result<Vec<MembershipRow>, DbErr> {
    if customer_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT {COLUMNS} FROM tag_membership WHERE chain_id = $1 AND customer_id IN ({}) ORDER BY tag_id",
                super::in_list(2, customer_ids.len())
            ),
            super::chain_and(chain_id, customer_ids),
        ))
        .await?;
    rows.iter().map(from_row).collect()
}

/// [`insert_membership`] for several rows at once; returns the `(tag, customer)` pairs that
/// were new (a customer already carrying the tag inserts nothing).
pub async fn insert_memberships(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    rows: &[MembershipRow],
) -> Result<std::collections::HashSet<(String, String)>, DbErr> {
    let mut inserted = std::collections::HashSet::new();
    for chunk in rows.chunks(super::ROWS_PER_STATEMENT) {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 8);
        for m in chunk {
            values.extend([
                chain_id.into(),
                m.tag_id.clone().into(),
                m.customer_id.clone().into(),
                i64::from(m.number).into(),
                m.source.into(),
                m.rule_version.into(),
                m.actor.clone().into(),
                m.added_at_us.into(),
            ]);
        }
        let returned = conn
            .query_all_raw(stmt(
                conn,
                &format!(
                    "INSERT INTO tag_membership (chain_id, {COLUMNS}) VALUES {}
                     ON CONFLICT (chain_id, tag_id, customer_id) DO NOTHING RETURNING tag_id, customer_id",
                    maitre_kit::db::value_rows(chunk.len(), 8)
                ),
                values,
            ))
            .await?;
        for r in &returned {
            inserted.insert((col(r, 0)?, col(r, 1)?));
        }
    }
    Ok(inserted)
}

/// One history row for [`insert_histories`]: `(tag, customer, added, actor, reason)`.
pub type HistoryEntry<'a> = (&'a str, &'a str, bool, &'a str, &'a str);

/// [`insert_history`] for several rows at once, in order.
pub async fn insert_histories(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    rows: &[HistoryEntry<'_>],
    changed_at_us: i64,
) -> Result<(), DbErr> {
    for chunk in rows.chunks(super::ROWS_PER_STATEMENT) {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 7);
        for (tag_id, customer_id, added, actor, reason) in chunk {
            values.extend([
                chain_id.into(),
                (*tag_id).into(),
                (*customer_id).into(),
                i64::from(*added).into(),
                (*actor).into(),
                (*reason).into(),
                changed_at_us.into(),
            ]);
        }
        conn.execute_raw(stmt(
            conn,
            &format!(
                "INSERT INTO tag_history (chain_id, tag_id, customer_id, added, actor, reason, changed_at_us)
                 VALUES {}",
                maitre_kit::db::value_rows(chunk.len(), 7)
            ),
            values,
        ))
        .await?;
    }
    Ok(())
}
