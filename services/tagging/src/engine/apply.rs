//! Writing membership changes: the membership row, a history row and the
//! `TagAdded`/`TagRemoved` event, all in the caller's transaction. A change that is
//! already true in storage (a concurrent writer got there first) writes nothing. The
//! watched segments the applied changes touch are re-checked here too (`engine::watch`).

use maitre_kit::eventlog::EventLog;
use maitre_proto::events::v1::{EventScope, TagAdded, TagRemoved, event::Payload};
use sea_orm::ConnectionTrait;

use super::evaluate::Change;
use crate::error::Result;
use crate::storage::{
    catalog::{SOURCE_MANUAL, SOURCE_MODEL, SOURCE_RULE},
    membership::{MembershipRow, delete_membership, insert_history, insert_membership},
};

/// "manual", "rule" or "model", as events name sources.
pub fn source_name(source: i64) -> &'static str {
    match source {
        SOURCE_MANUAL => "manual",
        SOURCE_RULE => "rule",
        SOURCE_MODEL => "model",
        _ => "unknown",
    }
}

/// Applies `changes`; returns those that changed storage (for the bitmaps).
pub async fn apply_changes(
    conn: &impl ConnectionTrait,
    events: &EventLog,
    chain_id: &str,
    changes: Vec<Change>,
    now_us: i64,
) -> Result<Vec<Change>> {
    let mut applied = Vec::with_capacity(changes.len());
    for change in changes {
        let effective = if change.added {
            insert_membership(
                conn,
                chain_id,
                &MembershipRow {
                    tag_id: change.tag_id.clone(),
                    customer_id: change.customer_id.clone(),
                    number: change.number,
                    source: change.source,
                    rule_version: change.rule_version,
                    actor: change.actor.clone(),
                    added_at_us: now_us,
                },
            )
            .await?
        } else {
            delete_membership(conn, chain_id, &change.tag_id, &change.customer_id).await?
        };
        if !effective {
            continue;
        }
        insert_history(
            conn,
            chain_id,
            &change.tag_id,
            &change.customer_id,
            change.added,
            &change.actor,
            &change.reason,
            now_us,
        )
        .await?;
        let scope = EventScope {
            customer_id: change.customer_id.clone(),
            ..Default::default()
        };
        let payload = if change.added {
            Payload::TagAdded(TagAdded {
                customer_id: change.customer_id.clone(),
                tag_id: change.tag_id.clone(),
                tag_name: change.tag_name.clone(),
                source: source_name(change.source).to_owned(),
                rule_version: i32::try_from(change.rule_version).unwrap_or(i32::MAX),
            })
        } else {
            Payload::TagRemoved(TagRemoved {
                customer_id: change.customer_id.clone(),
                tag_id: change.tag_id.clone(),
                tag_name: change.tag_name.clone(),
                source: source_name(change.source).to_owned(),
            })
        };
        events.append(conn, chain_id, scope, payload).await?;
        applied.push(change);
    }
    // Watched segments move in the same transaction as the memberships they read.
    super::watch::after_tag_changes(conn, events, chain_id, &applied, now_us).await?;
    Ok(applied)
}
