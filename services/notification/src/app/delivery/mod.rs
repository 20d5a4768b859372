//! The delivery pipeline: messages are enqueued as rows (one per chain and de-duplication key), a
//! dispatcher claims due rows, applies the gate (consent, caps, quiet hours), renders, sends through a
//! [`crate::providers::Provider`], retries with backoff and dead-letters; every status change is a history row
//! and a `MessageStatusChanged` event written in the same transaction.

pub mod caps;
mod chunk;
pub mod dispatcher;
pub mod outcome;
pub mod recovery;
mod round;

use maitre_kit::eventlog::EventLog;
use maitre_proto::events::v1::{
    EventScope, InboxItemCreated, MessageStatusChanged, event::Payload,
};
use sea_orm::ConnectionTrait;

use crate::convert::{channel_to_proto, status_to_proto};
use crate::domain::channel::{Channel, MessagePurpose};
use crate::error::Result;
use crate::state::State;
use crate::storage::inbox;
use crate::storage::messages::{self, MessageRow, NewMessage, RowUpdate};

/// Runs `futures` with at most `limit` in flight; outputs in completion order. (Futures are built
/// into a `Vec` first: stream combinators over borrowing closures lose `Send` in spawned tasks.)
async fn bounded<F: std::future::Future>(futures: Vec<F>, limit: usize) -> Vec<F::Output> {
    use futures::StreamExt;
    let mut pending = futures::stream::FuturesUnordered::new();
    let mut outputs = Vec::with_capacity(futures.len());
    for future in futures {
        if pending.len() >= limit
            && let Some(output) = pending.next().await
        {
            outputs.push(output);
        }
        pending.push(future);
    }
    while let Some(output) = pending.next().await {
        outputs.push(output);
    }
    outputs
}

/// Whether a stored status is announced on the event stream (queued and sending are internal).
fn announced(status: &str) -> bool {
    !matches!(status, "queued" | "sending")
}

/// The `MessageStatusChanged` event of `row` moving to `status`.
fn status_event(row: &MessageRow, status: &str, reason: &str) -> (EventScope, Payload) {
    (
        EventScope {
            customer_id: row.customer_id.clone(),
            store_id: String::new(),
            manager_id: row.staff_id.clone(),
        },
        Payload::MessageStatusChanged(MessageStatusChanged {
            message_id: row.message_id.clone(),
            customer_id: row.customer_id.clone(),
            campaign_id: row.campaign_id.clone(),
            automation_id: row.automation_id.clone(),
            channel: channel_to_proto(row.channel) as i32,
            status: status_to_proto(status) as i32,
            reason: reason.to_owned(),
        }),
    )
}

/// Appends the `MessageStatusChanged` event of `row` moving to `status`.
pub async fn append_status_event(
    events: &EventLog,
    conn: &impl ConnectionTrait,
    row: &MessageRow,
    status: &str,
    reason: &str,
) -> Result<()> {
    let (scope, payload) = status_event(row, status, reason);
    events.append(conn, &row.chain_id, scope, payload).await?;
    Ok(())
}

/// Writes an inbox item (once per key) with its `InboxItemCreated` event in the caller's
/// transaction; `false` when the key existed. Call [`State::inbox_committed`] after the commit.
pub async fn write_inbox(
    state: &State,
    conn: &impl ConnectionTrait,
    chain_id: &str,
    item: &inbox::NewInboxItem,
    now_us: i64,
) -> Result<bool> {
    if !inbox::insert(conn, chain_id, item, now_us).await? {
        return Ok(false);
    }
    // A chain that configured a staff provider (WeCom) has the item reach the staff member
    // there too: a message rendered from the item itself (`round::INBOX_FORWARD`).
    if crate::storage::provider_accounts::get(conn, chain_id, Channel::StaffInbox)
        .await?
        .is_some()
    {
        let forward = NewMessage {
            message_id: uuid::Uuid::now_v7().to_string(),
            customer_id: item.customer_id.clone(),
            staff_id: item.staff_id.clone(),
            channel: Channel::StaffInbox,
            purpose: MessagePurpose::Transactional,
            template_id: round::INBOX_FORWARD.to_owned(),
            variables: [
                (round::FORWARD_TITLE.to_owned(), item.title.clone()),
                (round::FORWARD_BODY.to_owned(), item.body.clone()),
            ]
            .into_iter()
            .collect(),
            campaign_id: String::new(),
            automation_id: String::new(),
            dedup_key: format!("inbox_forward:{}", item.item_id),
            next_attempt_at_us: now_us,
        };
        messages::insert(conn, chain_id, &forward, now_us).await?;
    }
    state
        .events
        .append(
            conn,
            chain_id,
            EventScope {
                customer_id: item.customer_id.clone(),
                store_id: String::new(),
                manager_id: item.staff_id.clone(),
            },
            Payload::InboxItemCreated(InboxItemCreated {
                item_id: item.item_id.clone(),
                staff_id: item.staff_id.clone(),
                title: item.title.clone(),
                customer_id: item.customer_id.clone(),
            }),
        )
        .await?;
    Ok(true)
}

/// Enqueues a message in the caller's transaction; `false` when its de-duplication key already
/// exists (the occurrence was handled). Call [`State::enqueued`] after the commit.
pub async fn enqueue(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    message: &NewMessage,
    now_us: i64,
) -> Result<bool> {
    messages::insert(conn, chain_id, message, now_us).await
}

/// Moves `row` to `status` (only from `from` when given) with history and event, in one
/// transaction; `false` when the row was not in `from`.
pub async fn transition(
    state: &State,
    row: &MessageRow,
    from: Option<&str>,
    status: &str,
    reason: &str,
    update: &RowUpdate,
    now_us: i64,
) -> Result<bool> {
    let txn = maitre_kit::db::begin_write(&state.db).await?;
    let changed = messages::set_status(
        &txn,
        &row.chain_id,
        &row.message_id,
        from,
        status,
        reason,
        update,
        now_us,
    )
    .await?;
    if !changed {
        txn.rollback().await?;
        return Ok(false);
    }
    if announced(status) {
        append_status_event(&state.events, &txn, row, status, reason).await?;
    }
    txn.commit().await?;
    if announced(status) {
        state.events.committed();
    }
    Ok(true)
}
