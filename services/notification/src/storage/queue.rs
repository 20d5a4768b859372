//! The dispatch queue over `notif_messages`: due rows, the single-winner claim, sends abandoned by a
//! killed worker, and the counted hits a cap window is re-seeded from.

use sea_orm::ConnectionTrait;

use super::messages::{COLUMNS, MessageRow, from_row};
use super::{exec, query_all};
use crate::domain::channel::Channel;
use crate::error::Result;

/// Messages due for an attempt (queued and due), oldest due first, across chains.
pub async fn due(conn: &impl ConnectionTrait, now_us: i64, limit: u64) -> Result<Vec<MessageRow>> {
    let rows = query_all(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM notif_messages WHERE status = 'queued' AND next_attempt_at_us <= $1
             ORDER BY next_attempt_at_us, message_id LIMIT $2"
        ),
        [now_us.into(), i64::try_from(limit).unwrap_or(i64::MAX).into()],
    )
    .await?;
    rows.iter().map(from_row).collect()
}

/// Claims a queued message for one worker: only one `UPDATE … WHERE status = 'queued'` can succeed, so
/// two replicas never both send it. `true` when this caller won.
pub async fn claim(conn: &impl ConnectionTrait, message_id: &str, now_us: i64) -> Result<bool> {
    let claimed = exec(
        conn,
        "UPDATE notif_messages SET status = 'sending', claimed_at_us = $1, updated_at_us = $1,
           attempts = attempts + 1
         WHERE message_id = $2 AND status = 'queued'",
        [now_us.into(), message_id.into()],
    )
    .await?;
    Ok(claimed == 1)
}

/// When each message counted toward a cap window was counted (Unix ms): the database truth a Redis
/// window is re-seeded from. `channel: None` counts every guest channel.
pub async fn counted_hits_ms(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    channel: Option<Channel>,
    since_us: i64,
    except_message_id: &str,
) -> Result<Vec<i64>> {
    let rows = query_all(
        conn,
        "SELECT counted_at_us FROM notif_messages WHERE chain_id = $1 AND customer_id = $2
           AND ($3 = '' OR channel = $3) AND counted_at_us IS NOT NULL AND counted_at_us >= $4
           AND message_id <> $5",
        [
            chain_id.into(),
            customer_id.into(),
            channel.map(|c| c.as_str()).unwrap_or_default().into(),
            since_us.into(),
            except_message_id.into(),
        ],
    )
    .await?;
    rows.iter()
        .map(|row| Ok(row.try_get::<i64>("", "counted_at_us")? / 1000))
        .collect()
}

/// Messages a worker claimed but never finished (crashed or killed) before `claimed_before_us`.
pub async fn stale_sending(
    conn: &impl ConnectionTrait,
    claimed_before_us: i64,
    limit: u64,
) -> Result<Vec<MessageRow>> {
    let rows = query_all(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM notif_messages WHERE status = 'sending' AND claimed_at_us < $1
             ORDER BY claimed_at_us LIMIT $2"
        ),
        [
            claimed_before_us.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    )
    .await?;
    rows.iter().map(from_row).collect()
}
