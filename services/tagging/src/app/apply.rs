//! Writing membership changes: the membership row, a history row and the
//! `TagAdded`/`TagRemoved` event, all in the caller's transaction. A change that is
//! already true in storage (a concurrent writer got there first) writes nothing. The
//! watched segments the applied changes touch are re-checked here too (`app::watch`).

use maitre_kit::eventlog::EventLog;
use maitre_proto::events::v1::{EventScope, TagAdded, TagRemoved, event::Payload};
use sea_orm::ConnectionTrait;

use crate::domain::membership::Change;
use crate::error::Result;
use crate::storage::{
    catalog::{SOURCE_MANUAL, SOURCE_MODEL, SOURCE_RULE},
    membership::{
        HistoryEntry, MembershipRow, delete_membership, insert_histories, insert_memberships,
    },
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

/// Applies `changes`; returns those that changed storage (for the bitmaps). Written a
/// statement per table for the whole list (the memberships added, the history, the events),
/// a removal one statement each; the outcome is the one of applying the changes in order.
pub async fn apply_changes(
    conn: &impl ConnectionTrait,
    events: &EventLog,
    chain_id: &str,
    changes: Vec<Change>,
    now_us: i64,
) -> Result<Vec<Change>> {
    if changes.is_empty() {
        return Ok(changes);
    }
    let mut applied = Vec::with_capacity(changes.len());
    let mut rest = changes.into_iter().peekable();
    while rest.peek().is_some() {
        // A stretch of additions: one INSERT; the ones already true insert nothing.
        let mut adds = Vec::new();
        while let Some(change) = rest.next_if(|c| c.added) {
            adds.push(change);
        }
        if !adds.is_empty() {
            let rows: Vec<MembershipRow> = adds
                .iter()
                .map(|change| MembershipRow {
                    tag_id: change.tag_id.clone(),
                    customer_id: change.customer_id.clone(),
                    number: change.number,
                    source: change.source,
                    rule_version: change.rule_version,
                    actor: change.actor.clone(),
                    added_at_us: now_us,
                })
                .collect();
            let mut inserted = insert_memberships(conn, chain_id, &rows).await?;
            // A pair listed twice is added once, by its first change.
            applied.extend(
                adds.into_iter()
                    .filter(|c| inserted.remove(&(c.tag_id.clone(), c.customer_id.clone()))),
            );
        }
        while let Some(change) = rest.next_if(|c| !c.added) {
            if delete_membership(conn, chain_id, &change.tag_id, &change.customer_id).await? {
                applied.push(change);
            }
        }
    }
    let history: Vec<HistoryEntry<'_>> = applied
        .iter()
        .map(|c| {
            (
                c.tag_id.as_str(),
                c.customer_id.as_str(),
                c.added,
                c.actor.as_str(),
                c.reason.as_str(),
            )
        })
        .collect();
    insert_histories(conn, chain_id, &history, now_us).await?;
    events
        .append_all(conn, chain_id, applied.iter().map(announcement))
        .await?;
    // Watched segments move in the same transaction as the memberships they read.
    super::watch::after_tag_changes(conn, events, chain_id, &applied, now_us).await?;
    Ok(applied)
}

/// The `TagAdded`/`TagRemoved` event of an applied change.
fn announcement(change: &Change) -> (EventScope, Payload) {
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
    (scope, payload)
}
