//! Owner actions that fire before the guest's owner is known. A remind-owner or create-follow-up
//! action needs the owner, which this service learns from assignment's stream; when that stream is
//! behind the others (a new guest tagged at once, assignment restarting) the action waits, rendered
//! and keyed by its de-duplication key, and OwnerChanged hands it to the owner ([`deliver`]). An
//! event-triggered action could not be fired again later: its occurrence is that one event.

use maitre_kit::db::DbError;
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use crate::app::actions::{FollowUpPlanAction, enqueue_follow_up};
use crate::error::{Error, Result};
use crate::state::State;
use crate::storage::awaiting;
use crate::storage::inbox::NewInboxItem;

/// An action waiting for the owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ForOwner {
    /// A reminder for the owner's inbox, rendered when it fired.
    Reminder {
        item_id: String,
        customer_id: String,
        title: String,
        body: String,
        dedup_key: String,
    },
    /// A follow-up plan for the owner to make.
    FollowUp {
        automation_id: String,
        plan: FollowUpPlanAction,
    },
}

impl ForOwner {
    fn customer_id(&self) -> &str {
        match self {
            Self::Reminder { customer_id, .. } => customer_id,
            Self::FollowUp { plan, .. } => &plan.customer_id,
        }
    }

    fn dedup_key(&self) -> &str {
        match self {
            Self::Reminder { dedup_key, .. } => dedup_key,
            Self::FollowUp { plan, .. } => &plan.request_id,
        }
    }
}

/// Keeps `action` until the customer's owner is known (once per de-duplication key).
pub async fn park(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    action: &ForOwner,
    now_us: i64,
) -> Result<()> {
    let payload = serde_json::to_string(action)
        .map_err(|e| Error::invalid("automation.actions", e.to_string()))?;
    tracing::info!(
        customer = action.customer_id(),
        "no owner known yet; action waits for one"
    );
    awaiting::park(
        conn,
        chain_id,
        action.customer_id(),
        action.dedup_key(),
        &payload,
        now_us,
    )
    .await
}

/// Hands the customer's waiting actions to `owner` in the caller's transaction: reminders into
/// their inbox, follow-up plans into the action queue with them as manager, each once (its
/// de-duplication key). Nothing happens while the owner is unknown (empty).
pub async fn deliver(
    state: &State,
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    owner: &str,
    now_us: i64,
) -> Result<()> {
    if owner.is_empty() {
        return Ok(());
    }
    let mut inbox_written = false;
    for payload in awaiting::take(conn, chain_id, customer_id).await? {
        let action: ForOwner = serde_json::from_str(&payload).map_err(|e| {
            Error::Db(DbError::Corrupt {
                what: format!("action awaiting the owner of {customer_id}"),
                reason: e.to_string(),
            })
        })?;
        match action {
            ForOwner::Reminder {
                item_id,
                title,
                body,
                dedup_key,
                ..
            } => {
                let item = NewInboxItem {
                    item_id,
                    staff_id: owner.to_owned(),
                    title,
                    body,
                    // Merged profiles wait under the survivor's id.
                    customer_id: customer_id.to_owned(),
                    dedup_key,
                };
                inbox_written |=
                    crate::app::delivery::write_inbox(state, conn, chain_id, &item, now_us).await?;
            }
            ForOwner::FollowUp {
                automation_id,
                mut plan,
            } => {
                plan.customer_id = customer_id.to_owned();
                plan.manager_id = owner.to_owned();
                enqueue_follow_up(conn, chain_id, &automation_id, plan, now_us).await?;
            }
        }
    }
    if inbox_written {
        state.inbox.notify_waiters();
    }
    Ok(())
}
