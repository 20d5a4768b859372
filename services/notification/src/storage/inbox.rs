//! The staff inbox (`notif_inbox`): reminders to managers written by the remind-owner action, one per
//! de-duplication key. The autoincrement `id` orders items and is the live stream's cursor.

use sea_orm::{ConnectionTrait, QueryResult};

use super::{exec, query_all, query_one};
use crate::error::Result;

/// A new inbox item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInboxItem {
    pub item_id: String,
    pub staff_id: String,
    pub title: String,
    pub body: String,
    pub customer_id: String,
    pub dedup_key: String,
}

/// A stored inbox item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxRow {
    pub id: i64,
    pub item_id: String,
    pub staff_id: String,
    pub title: String,
    pub body: String,
    pub customer_id: String,
    pub read: bool,
    pub create_time_us: i64,
}

const COLUMNS: &str = "id, item_id, staff_id, title, body, customer_id, read, create_time_us";

fn from_row(row: &QueryResult) -> Result<InboxRow> {
    let read: i32 = row.try_get("", "read")?;
    Ok(InboxRow {
        id: row.try_get("", "id")?,
        item_id: row.try_get("", "item_id")?,
        staff_id: row.try_get("", "staff_id")?,
        title: row.try_get("", "title")?,
        body: row.try_get("", "body")?,
        customer_id: row.try_get("", "customer_id")?,
        read: read != 0,
        create_time_us: row.try_get("", "create_time_us")?,
    })
}

/// Inserts the item unless its key exists; `true` when inserted.
pub async fn insert(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    item: &NewInboxItem,
    now_us: i64,
) -> Result<bool> {
    let inserted = exec(
        conn,
        "INSERT INTO notif_inbox (chain_id, item_id, staff_id, title, body, customer_id, read, dedup_key, create_time_us)
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8) ON CONFLICT (chain_id, dedup_key) DO NOTHING",
        [
            chain_id.into(),
            item.item_id.clone().into(),
            item.staff_id.clone().into(),
            item.title.clone().into(),
            item.body.clone().into(),
            item.customer_id.clone().into(),
            item.dedup_key.clone().into(),
            now_us.into(),
        ],
    )
    .await?;
    Ok(inserted > 0)
}

/// A page of a staff member's items, newest first, with `id < before` (0 = from the newest).
pub async fn list(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    staff_id: &str,
    unread_only: bool,
    before: i64,
    limit: u64,
) -> Result<Vec<InboxRow>> {
    let rows = query_all(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM notif_inbox WHERE chain_id = $1 AND staff_id = $2
               AND ($3 = 0 OR read = 0) AND ($4 = 0 OR id < $4)
             ORDER BY id DESC LIMIT $5"
        ),
        [
            chain_id.into(),
            staff_id.into(),
            i32::from(unread_only).into(),
            before.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    )
    .await?;
    rows.iter().map(from_row).collect()
}

/// Items of a staff member with `id > after`, oldest first (the live stream).
pub async fn after(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    staff_id: &str,
    after: i64,
) -> Result<Vec<InboxRow>> {
    let rows = query_all(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM notif_inbox WHERE chain_id = $1 AND staff_id = $2 AND id > $3
             ORDER BY id LIMIT 500"
        ),
        [chain_id.into(), staff_id.into(), after.into()],
    )
    .await?;
    rows.iter().map(from_row).collect()
}

/// The highest item id of a staff member (the stream starts after it).
pub async fn last_id(conn: &impl ConnectionTrait, chain_id: &str, staff_id: &str) -> Result<i64> {
    let row = query_one(
        conn,
        "SELECT COALESCE(MAX(id), 0) AS last FROM notif_inbox WHERE chain_id = $1 AND staff_id = $2",
        [chain_id.into(), staff_id.into()],
    )
    .await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "last"))
        .transpose()?
        .unwrap_or(0))
}

/// Unread items of a staff member.
pub async fn unread_count(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    staff_id: &str,
) -> Result<i64> {
    let row = query_one(
        conn,
        "SELECT COUNT(*) AS n FROM notif_inbox WHERE chain_id = $1 AND staff_id = $2 AND read = 0",
        [chain_id.into(), staff_id.into()],
    )
    .await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0))
}

/// Marks items of the staff member read; returns how many changed.
pub async fn mark_read(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    staff_id: &str,
    item_id: &str,
) -> Result<u64> {
    exec(
        conn,
        "UPDATE notif_inbox SET read = 1 WHERE chain_id = $1 AND staff_id = $2 AND item_id = $3 AND read = 0",
        [chain_id.into(), staff_id.into(), item_id.into()],
    )
    .await
}
