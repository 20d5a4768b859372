//! Campaign sends consumed from notification's stream (`tag_campaign_send`): one row per
//! message of a campaign, the day it was sent and whether the guest responded (status
//! RESPONDED). Visits after a send are read from `tag_visit` by the analysis.

use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, DbErr};

use super::col;

#[derive(Debug, Clone, PartialEq)]
pub struct SendRow {
    pub customer_id: String,
    pub campaign_id: String,
    pub sent_day: i32,
    pub responded: bool,
}

/// Records a send (replays and a later SENT for the same message change nothing).
pub async fn record_send(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    message_id: &str,
    send: &SendRow,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO tag_campaign_send (chain_id, message_id, customer_id, campaign_id, sent_day, responded)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (chain_id, message_id) DO NOTHING",
        [
            chain_id.into(),
            message_id.into(),
            send.customer_id.clone().into(),
            send.campaign_id.clone().into(),
            i64::from(send.sent_day).into(),
            i64::from(send.responded).into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Marks a message responded (a RESPONDED before its SENT records the send too).
pub async fn record_response(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    message_id: &str,
    send: &SendRow,
) -> Result<(), DbErr> {
    record_send(conn, chain_id, message_id, send).await?;
    conn.execute_raw(stmt(
        conn,
        "UPDATE tag_campaign_send SET responded = 1 WHERE chain_id = $1 AND message_id = $2",
        [chain_id.into(), message_id.into()],
    ))
    .await?;
    Ok(())
}

fn send_from_row(r: &sea_orm::QueryResult) -> Result<SendRow, DbErr> {
    Ok(SendRow {
        customer_id: col(r, 0)?,
        campaign_id: col(r, 1)?,
        sent_day: i32::try_from(col::<i64>(r, 2)?).unwrap_or(i32::MIN),
        responded: col::<i64>(r, 3)? != 0,
    })
}

/// Every send of the chain since `from_day`, by customer.
pub async fn sends_since(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    from_day: i32,
) -> Result<Vec<SendRow>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT customer_id, campaign_id, sent_day, responded FROM tag_campaign_send
             WHERE chain_id = $1 AND sent_day >= $2 ORDER BY customer_id, sent_day",
            [chain_id.into(), i64::from(from_day).into()],
        ))
        .await?;
    rows.iter().map(send_from_row).collect()
}

/// Moves an absorbed customer's sends to the survivor of a merge.
pub async fn move_sends(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    from_customer: &str,
    to_customer: &str,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "UPDATE tag_campaign_send SET customer_id = $3 WHERE chain_id = $1 AND customer_id = $2",
        [chain_id.into(), from_customer.into(), to_customer.into()],
    ))
    .await?;
    Ok(())
}
