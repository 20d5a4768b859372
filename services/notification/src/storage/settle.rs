//! Settling claimed messages: the end of a dispatch round writes every decision of the chunk with one
//! `UPDATE … FROM (VALUES …)` per [`ROWS_PER_STATEMENT`] rows, guarded by `status = 'sending'` and
//! the claimant, so a row another worker took over (its lease lapsed) is left alone and reported
//! as not ours.

use maitre_kit::db::value_rows;
use sea_orm::ConnectionTrait;

use super::query_all;
use super::queue::ROWS_PER_STATEMENT;
use crate::error::Result;

/// The final state of one claimed (`sending`) message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settlement {
    pub chain_id: String,
    pub message_id: String,
    pub status: String,
    pub reason: String,
    /// When to try again (re-queued messages).
    pub next_attempt_at_us: Option<i64>,
    /// Stops counting the message toward caps (everything but a send).
    pub uncount: bool,
    /// Subject and body as sent.
    pub rendered: Option<(String, String)>,
    pub provider_message_id: Option<String>,
    /// Gives back the attempt the claim took (a deferral or suppression is not an attempt).
    pub refund_attempt: bool,
}

const WIDTH: usize = 10;

/// Applies `settlements` of messages claimed by `worker`; returns the message ids that were still
/// `sending` under its claim (and now settled).
pub async fn apply(
    conn: &impl ConnectionTrait,
    settlements: &[Settlement],
    worker: &str,
    now_us: i64,
) -> Result<Vec<String>> {
    let mut settled = Vec::with_capacity(settlements.len());
    for chunk in settlements.chunks(ROWS_PER_STATEMENT) {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * WIDTH + 1);
        for s in chunk {
            let (subject, body) = s.rendered.clone().unzip();
            values.extend([
                s.chain_id.clone().into(),
                s.message_id.clone().into(),
                s.status.clone().into(),
                s.reason.clone().into(),
                s.next_attempt_at_us.into(),
                i32::from(s.uncount).into(),
                subject.into(),
                body.into(),
                s.provider_message_id.clone().into(),
                i32::from(s.refund_attempt).into(),
            ]);
        }
        values.push(now_us.into());
        values.push(worker.into());
        let now = chunk.len() * WIDTH + 1;
        let worker_at = now + 1;
        // VALUES columns are `column1…column10` on both backends.
        let rows = query_all(
            conn,
            &format!(
                "UPDATE notif_messages SET status = v.column3, reason = v.column4, updated_at_us = ${now},
                   next_attempt_at_us = COALESCE(v.column5, next_attempt_at_us),
                   counted_at_us = CASE WHEN v.column6 = 1 THEN NULL ELSE counted_at_us END,
                   subject = COALESCE(v.column7, subject),
                   body = COALESCE(v.column8, body),
                   provider_message_id = COALESCE(v.column9, provider_message_id),
                   attempts = attempts - v.column10
                 FROM (VALUES {}) AS v
                 WHERE chain_id = v.column1 AND message_id = v.column2 AND status = 'sending'
                   AND claimed_by = ${worker_at}
                 RETURNING message_id",
                value_rows(chunk.len(), WIDTH)
            ),
            values,
        )
        .await?;
        for row in rows {
            settled.push(row.try_get::<String>("", "message_id")?);
        }
    }
    Ok(settled)
}
