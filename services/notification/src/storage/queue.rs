//! The dispatch queue over `notif_messages`: enqueueing a batch, claiming a chunk of due rows for
//! one worker (its claims and leases: `claims.rs`), and the counted hits cap windows are seeded from.
//! Every call is one statement per chunk of rows (a campaign is a million rows: per-row round trips
//! would bound the throughput, issue 7 "Benchmarks").

use std::collections::HashSet;

use maitre_kit::db::{is_postgres, value_rows};
use sea_orm::ConnectionTrait;

use super::messages::{COLUMNS, MessageRow, NewMessage, from_row};
use super::{exec, query_all};
use crate::domain::channel::Channel;
use crate::error::{Error, Result};

/// Rows per multi-row statement: far below both backends' parameter limits (PostgreSQL 65,535,
/// SQLite 32,766) at every width used here.
pub(crate) const ROWS_PER_STATEMENT: usize = 2_000;

/// Enqueues `messages` of one chain in the caller's transaction; the ones whose de-duplication key
/// already exists are skipped (the UNIQUE key decides, also between concurrent callers). Returns
/// the ids of the rows inserted, each with its `queued` history row.
pub async fn insert_all(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    messages: &[NewMessage],
    now_us: i64,
) -> Result<Vec<String>> {
    const WIDTH: usize = 12;
    let mut inserted = Vec::with_capacity(messages.len());
    for chunk in messages.chunks(ROWS_PER_STATEMENT) {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * WIDTH);
        for message in chunk {
            let variables = serde_json::to_string(&message.variables).map_err(|e| {
                Error::Db(maitre_kit::db::DbError::Corrupt {
                    what: "message.variables".into(),
                    reason: e.to_string(),
                })
            })?;
            values.extend([
                message.message_id.clone().into(),
                chain_id.into(),
                message.customer_id.clone().into(),
                message.staff_id.clone().into(),
                message.channel.as_str().into(),
                message.purpose.as_str().into(),
                message.template_id.clone().into(),
                variables.into(),
                message.campaign_id.clone().into(),
                message.automation_id.clone().into(),
                message.dedup_key.clone().into(),
                message.next_attempt_at_us.into(),
            ]);
        }
        let now = chunk.len() * WIDTH + 1;
        let rows = query_all(
            conn,
            &format!(
                "INSERT INTO notif_messages (message_id, chain_id, customer_id, staff_id, channel, purpose,
                   template_id, variables, campaign_id, automation_id, dedup_key, next_attempt_at_us,
                   subject, body, status, reason, attempts, counted_at_us, claimed_at_us,
                   provider_message_id, created_at_us, updated_at_us)
                 SELECT v.*, '', '', 'queued', '', 0, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), '',
                   ${now}, ${now}
                 FROM (VALUES {}) AS v WHERE true
                 ON CONFLICT (chain_id, dedup_key) DO NOTHING RETURNING message_id",
                value_rows(chunk.len(), WIDTH)
            ),
            values.into_iter().chain([now_us.into()]),
        )
        .await?;
        for row in rows {
            inserted.push(row.try_get::<String>("", "message_id")?);
        }
    }
    let history: Vec<(String, String, String)> = inserted
        .iter()
        .map(|id| (id.clone(), "queued".to_owned(), String::new()))
        .collect();
    add_history_all(conn, chain_id, &history, now_us).await?;
    Ok(inserted)
}

/// Appends status history rows `(message_id, status, reason)` of one chain.
pub async fn add_history_all(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    rows: &[(String, String, String)],
    now_us: i64,
) -> Result<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 5);
        for (message_id, status, reason) in chunk {
            values.extend([
                chain_id.into(),
                message_id.clone().into(),
                status.clone().into(),
                reason.clone().into(),
                now_us.into(),
            ]);
        }
        exec(
            conn,
            &format!(
                "INSERT INTO notif_message_history (chain_id, message_id, status, reason, change_time_us)
                 VALUES {}",
                value_rows(chunk.len(), 5)
            ),
            values,
        )
        .await?;
    }
    Ok(())
}

/// Claims up to `limit` due messages (queued and due, oldest due first, across chains) for one
/// worker in one statement: `sending`, one more attempt, and counted toward caps from now (so a cap
/// window re-seeded meanwhile includes them; a message that is not sent is uncounted when settled).
/// On PostgreSQL `SKIP LOCKED` keeps concurrent workers on disjoint rows; SQLite has one writer.
/// The claimed rows are returned oldest due first.
pub async fn claim_due(
    conn: &impl ConnectionTrait,
    worker: &str,
    now_us: i64,
    limit: u64,
) -> Result<Vec<MessageRow>> {
    let lock = if is_postgres(conn) {
        "FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let rows = query_all(
        conn,
        &format!(
            "UPDATE notif_messages SET status = 'sending', claimed_at_us = $1, updated_at_us = $1,
               counted_at_us = $1, attempts = attempts + 1, claimed_by = $3, handed_at_us = NULL
             WHERE status = 'queued' AND message_id IN (
               SELECT message_id FROM notif_messages WHERE status = 'queued' AND next_attempt_at_us <= $1
               ORDER BY next_attempt_at_us, message_id LIMIT $2 {lock})
             RETURNING {COLUMNS}"
        ),
        [
            now_us.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
            worker.into(),
        ],
    )
    .await?;
    let mut claimed = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    claimed.sort_by(|a, b| {
        (a.next_attempt_at_us, &a.message_id).cmp(&(b.next_attempt_at_us, &b.message_id))
    });
    Ok(claimed)
}

/// A message counted toward cap windows: who, on which channel, since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedHit {
    pub customer_id: String,
    pub channel: Channel,
    pub counted_at_us: i64,
}

/// The counted messages of `customers` in the chain since `since_us`, except `except` (the
/// caller's own claimed messages, which it charges itself): the database truth cap windows are
/// re-seeded from.
pub async fn counted_hits(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customers: &[&str],
    since_us: i64,
    except: &HashSet<&str>,
) -> Result<Vec<CountedHit>> {
    let mut hits = Vec::new();
    for chunk in customers.chunks(ROWS_PER_STATEMENT) {
        let values = [chain_id.into(), since_us.into()]
            .into_iter()
            .chain(chunk.iter().map(|c| (*c).into()));
        let rows = query_all(
            conn,
            &format!(
                "SELECT message_id, customer_id, channel, counted_at_us FROM notif_messages
                 WHERE chain_id = $1 AND counted_at_us IS NOT NULL AND counted_at_us >= $2
                   AND customer_id IN ({})",
                placeholders(3, chunk.len())
            ),
            values,
        )
        .await?;
        for row in rows {
            let message_id: String = row.try_get("", "message_id")?;
            if except.contains(message_id.as_str()) {
                continue;
            }
            let channel: String = row.try_get("", "channel")?;
            let Some(channel) = crate::convert::channel_from_str(&channel) else {
                continue;
            };
            hits.push(CountedHit {
                customer_id: row.try_get("", "customer_id")?,
                channel,
                counted_at_us: row.try_get("", "counted_at_us")?,
            });
        }
    }
    Ok(hits)
}

/// `$3, $4, $5` for `(3, 3)`: an `IN (…)` list placed after fixed parameters.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholder_lists_follow_the_fixed_parameters() {
        assert_eq!(super::placeholders(3, 3), "$3, $4, $5");
        assert_eq!(super::placeholders(2, 1), "$2");
    }
}
