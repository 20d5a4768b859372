//! The `notif_automations` table: each automation as its validated proto definition, with `enabled`
//! and the trigger kind as columns so the consumers load only the enabled automations a trigger fires.

use maitre_kit::db::DbError;
use maitre_proto::notification::v1::Automation;
use prost::Message;
use sea_orm::{ConnectionTrait, QueryResult};

use super::{exec, facts, query_all, query_one};
use crate::error::{Error, Result};

fn from_row(row: &QueryResult) -> Result<Automation> {
    let bytes: Vec<u8> = row.try_get("", "definition")?;
    let enabled: i32 = row.try_get("", "enabled")?;
    let update_time_us: i64 = row.try_get("", "update_time_us")?;
    let mut automation = Automation::decode(bytes.as_slice()).map_err(|e| {
        Error::Db(DbError::Corrupt {
            what: "automation definition".into(),
            reason: e.to_string(),
        })
    })?;
    automation.enabled = enabled != 0;
    automation.update_time = Some(crate::convert::timestamp_from_us(update_time_us));
    Ok(automation)
}

/// Inserts or replaces an automation.
pub async fn upsert(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    automation: &Automation,
    now_us: i64,
) -> Result<()> {
    let trigger_kind = automation.trigger.as_ref().map(|t| t.kind).unwrap_or(0);
    exec(
        conn,
        "INSERT INTO notif_automations (chain_id, automation_id, definition, enabled, trigger_kind, update_time_us)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (chain_id, automation_id) DO UPDATE SET definition = excluded.definition,
           enabled = excluded.enabled, trigger_kind = excluded.trigger_kind, update_time_us = excluded.update_time_us",
        [
            chain_id.into(),
            automation.automation_id.clone().into(),
            automation.encode_to_vec().into(),
            i32::from(automation.enabled).into(),
            trigger_kind.into(),
            now_us.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Stores `automation` in the caller's write transaction; `true` when it is an enabled date
/// automation (birthday, anniversary), whose today's occurrences the caller has the daily scan
/// look for again once the transaction commits (`app::daily_scan::date_automations_changed`).
///
/// Such an automation first waits for the consumers writing customer facts to commit, and
/// holds new ones until the caller commits ([`facts::fence_writers`]): a birthday consumed at
/// the same moment is then either seen by the rescan or consumed after the automation is
/// visible, never missed by both.
pub async fn save(
    txn: &impl ConnectionTrait,
    chain_id: &str,
    automation: &Automation,
    now_us: i64,
) -> Result<bool> {
    use maitre_proto::notification::v1::TriggerKind;
    let kind = automation.trigger.as_ref().map(|t| t.kind).unwrap_or(0);
    let dated = automation.enabled
        && [
            TriggerKind::Birthday as i32,
            TriggerKind::Anniversary as i32,
        ]
        .contains(&kind);
    if dated {
        facts::fence_writers(txn).await?;
    }
    upsert(txn, chain_id, automation, now_us).await?;
    Ok(dated)
}

/// The automation, if it exists in the chain.
pub async fn get(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    automation_id: &str,
) -> Result<Option<Automation>> {
    let row = query_one(
        conn,
        "SELECT definition, enabled, update_time_us FROM notif_automations WHERE chain_id = $1 AND automation_id = $2",
        [chain_id.into(), automation_id.into()],
    )
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A page of automations ordered by id.
pub async fn list(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    after: &str,
    limit: u64,
) -> Result<Vec<Automation>> {
    let rows = query_all(
        conn,
        "SELECT definition, enabled, update_time_us FROM notif_automations WHERE chain_id = $1 AND automation_id > $2
         ORDER BY automation_id LIMIT $3",
        [
            chain_id.into(),
            after.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    )
    .await?;
    rows.iter().map(from_row).collect()
}

/// The chain's enabled automations with one of the trigger kinds.
pub async fn enabled_with_triggers(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    trigger_kinds: &[i32],
) -> Result<Vec<Automation>> {
    let rows = query_all(
        conn,
        "SELECT definition, enabled, update_time_us FROM notif_automations WHERE chain_id = $1 AND enabled = 1
         ORDER BY automation_id",
        [chain_id.into()],
    )
    .await?;
    let all: Vec<Automation> = rows.iter().map(from_row).collect::<Result<_>>()?;
    Ok(all
        .into_iter()
        .filter(|a| {
            a.trigger
                .as_ref()
                .is_some_and(|t| trigger_kinds.contains(&t.kind))
        })
        .collect())
}

/// Chains with at least one enabled automation of the trigger kinds (the daily scan's work list).
pub async fn chains_with_enabled(
    conn: &impl ConnectionTrait,
    trigger_kinds: &[i32],
) -> Result<Vec<String>> {
    let mut chains = Vec::new();
    for kind in trigger_kinds {
        let rows = query_all(
            conn,
            "SELECT DISTINCT chain_id FROM notif_automations WHERE enabled = 1 AND trigger_kind = $1",
            [(*kind).into()],
        )
        .await?;
        for row in rows {
            let chain: String = row.try_get("", "chain_id")?;
            if !chains.contains(&chain) {
                chains.push(chain);
            }
        }
    }
    Ok(chains)
}

/// Whether an enabled automation of the chain uses the template.
pub async fn enabled_using_template(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    template_id: &str,
) -> Result<bool> {
    let rows = query_all(
        conn,
        "SELECT definition, enabled, update_time_us FROM notif_automations WHERE chain_id = $1 AND enabled = 1",
        [chain_id.into()],
    )
    .await?;
    for row in &rows {
        let automation = from_row(row)?;
        if automation
            .actions
            .iter()
            .any(|action| action.template_id == template_id)
        {
            return Ok(true);
        }
    }
    Ok(false)
}
