//! Roster RPCs: UpsertManager, GetManager, ListManagers, SetManagerStatus. Every change
//! emits `ManagerChanged`; a manager coming on duty (or gaining room) drains the stores'
//! unassigned pool.

use chrono::Utc;
use maitre_kit::{auth::Caller, idempotency, page::next_token};
use maitre_proto::assignment::v1 as pb;
use maitre_proto::events::v1::{EventScope, ManagerChanged, event::Payload};
use sea_orm::DatabaseTransaction;

use super::scope::{self, required};
use crate::app::Engine;
use crate::convert::{manager_to_proto, status_from_proto};
use crate::domain::roster::ManagerStatus;
use crate::error::Error;
use crate::storage::managers::{self, ManagerRow, status_name};

async fn emit_changed(
    engine: &Engine,
    txn: &DatabaseTransaction,
    chain_id: &str,
    row: &ManagerRow,
) -> Result<(), Error> {
    let scope = EventScope {
        manager_id: row.manager_id.clone(),
        store_id: row.store_ids.first().cloned().unwrap_or_default(),
        ..Default::default()
    };
    let payload = Payload::ManagerChanged(ManagerChanged {
        manager_id: row.manager_id.clone(),
        status: status_name(row.status).to_owned(),
    });
    engine
        .runtime
        .events
        .append(txn, chain_id, scope, payload)
        .await?;
    Ok(())
}

/// Customers waiting for room are allocated once a manager can take them.
async fn drain_after_change(engine: &Engine, chain_id: &str, row: &ManagerRow) {
    if row.status != ManagerStatus::OnDuty {
        return;
    }
    if let Err(error) = engine.drain_pool(chain_id, &row.store_ids).await {
        tracing::warn!(%error, "allocating the unassigned pool failed; the next change retries");
    }
}

pub async fn upsert_manager(
    engine: &Engine,
    caller: &Caller,
    request: pb::UpsertManagerRequest,
) -> Result<pb::UpsertManagerResponse, Error> {
    let chain_id = scope::chain(caller)?;
    let manager = request
        .manager
        .ok_or_else(|| Error::invalid("manager", "is required"))?;
    let manager_id = required("manager.manager_id", &manager.manager_id)?.to_owned();
    let mut store_ids: Vec<String> = manager
        .store_ids
        .iter()
        .map(|s| s.trim().to_owned())
        .collect();
    if store_ids.is_empty() || store_ids.iter().any(String::is_empty) {
        return Err(Error::invalid(
            "manager.store_ids",
            "at least one non-empty store id is required",
        ));
    }
    store_ids.sort();
    store_ids.dedup();
    if manager.capacity < 0 {
        return Err(Error::invalid(
            "manager.capacity",
            "must not be negative (0 = unlimited)",
        ));
    }
    let status = match manager.status {
        0 => ManagerStatus::OnDuty,
        status => status_from_proto("manager.status", status)?,
    };
    scope::require_manager_admin(caller, &store_ids)?;
    let db = &engine.runtime.db;
    if let Some(stored) =
        idempotency::recall(db, chain_id, "UpsertManager", &request.request_id).await?
    {
        return Ok(stored);
    }
    let existing = managers::get(db, chain_id, &manager_id).await?;
    if let Some(existing) = &existing {
        scope::require_manager_admin(caller, &existing.store_ids)?;
    }
    let roster_position = match (manager.roster_position, &existing) {
        (position, _) if position > 0 => i64::from(position),
        (_, Some(existing)) => existing.roster_position,
        (_, None) => managers::next_position(db, chain_id).await?,
    };
    // The first statement of a transaction writes (SQLite upgrades a reading transaction
    // to a writing one only if nobody wrote meanwhile, and fails at once otherwise).
    let txn = maitre_kit::db::begin_write(db).await?;
    let mut row = ManagerRow {
        manager_id: manager_id.clone(),
        name: manager.name.trim().to_owned(),
        capacity: manager.capacity,
        status,
        roster_position,
        owned_count: existing.as_ref().map_or(0, |m| m.owned_count),
        store_ids,
    };
    managers::upsert(&txn, chain_id, &row, Utc::now().timestamp_micros()).await?;
    emit_changed(engine, &txn, chain_id, &row).await?;
    if let Some(stored) = managers::get(&txn, chain_id, &manager_id).await? {
        row = stored;
    }
    let response = pb::UpsertManagerResponse {
        manager: Some(manager_to_proto(&row)),
    };
    idempotency::remember(
        &txn,
        chain_id,
        "UpsertManager",
        &request.request_id,
        &response,
    )
    .await?;
    txn.commit().await?;
    engine.runtime.events.committed();
    drain_after_change(engine, chain_id, &row).await;
    Ok(response)
}

pub async fn get_manager(
    engine: &Engine,
    caller: &Caller,
    request: pb::GetManagerRequest,
) -> Result<pb::GetManagerResponse, Error> {
    let chain_id = scope::chain(caller)?;
    let manager_id = required("manager_id", &request.manager_id)?;
    let row = managers::get(&engine.runtime.db, chain_id, manager_id)
        .await?
        .ok_or_else(|| Error::not_found("manager", manager_id))?;
    scope::require_manager_reader(caller, &row)?;
    Ok(pb::GetManagerResponse {
        manager: Some(manager_to_proto(&row)),
    })
}

pub async fn list_managers(
    engine: &Engine,
    caller: &Caller,
    request: pb::ListManagersRequest,
) -> Result<pb::ListManagersResponse, Error> {
    let chain_id = scope::chain(caller)?;
    let page = scope::page(request.page_size, &request.page_token)?;
    let store_id = (!request.store_id.is_empty()).then_some(request.store_id.as_str());
    if let Some(store_id) = store_id {
        scope::require_store(caller, store_id)?;
    } else if !caller.role.is_chain_wide() {
        return Err(Error::invalid(
            "store_id",
            "is required for store-scoped callers",
        ));
    }
    let status = match request.status {
        0 => None,
        status => Some(status_from_proto("status", status)?),
    };
    let rows = managers::list(
        &engine.runtime.db,
        chain_id,
        store_id,
        status,
        &page.after,
        page.size + 1,
    )
    .await?;
    let more = rows.len() as u64 > page.size;
    let rows: Vec<ManagerRow> = rows.into_iter().take(page.size as usize).collect();
    let next_page_token = match rows.last() {
        Some(last) if more => next_token(&last.manager_id),
        _ => String::new(),
    };
    Ok(pb::ListManagersResponse {
        managers: rows.iter().map(manager_to_proto).collect(),
        next_page_token,
    })
}

pub async fn set_manager_status(
    engine: &Engine,
    caller: &Caller,
    request: pb::SetManagerStatusRequest,
) -> Result<pb::SetManagerStatusResponse, Error> {
    let chain_id = scope::chain(caller)?;
    let manager_id = required("manager_id", &request.manager_id)?;
    let status = status_from_proto("status", request.status)?;
    scope::require_role(caller, scope::ADMINS)?;
    let db = &engine.runtime.db;
    if let Some(stored) =
        idempotency::recall(db, chain_id, "SetManagerStatus", &request.request_id).await?
    {
        return Ok(stored);
    }
    let existing = managers::get(db, chain_id, manager_id)
        .await?
        .ok_or_else(|| Error::not_found("manager", manager_id))?;
    scope::require_manager_admin(caller, &existing.store_ids)?;
    let txn = maitre_kit::db::begin_write(db).await?;
    managers::set_status(
        &txn,
        chain_id,
        manager_id,
        status,
        Utc::now().timestamp_micros(),
    )
    .await?;
    let row = managers::get(&txn, chain_id, manager_id)
        .await?
        .ok_or_else(|| Error::not_found("manager", manager_id))?;
    emit_changed(engine, &txn, chain_id, &row).await?;
    let response = pb::SetManagerStatusResponse {
        manager: Some(manager_to_proto(&row)),
    };
    idempotency::remember(
        &txn,
        chain_id,
        "SetManagerStatus",
        &request.request_id,
        &response,
    )
    .await?;
    txn.commit().await?;
    engine.runtime.events.committed();
    drain_after_change(engine, chain_id, &row).await;
    Ok(response)
}
