//! Changes by hand and their reports: TransferCustomer, LockCustomer, UnlockCustomer,
//! StartBulkTransfer / GetBulkTransfer, GetManagerStats.

use maitre_kit::config::ServiceName;
use std::sync::Arc;

use maitre_kit::{audit::Actor, auth::Caller, idempotency};
use maitre_proto::assignment::v1 as pb;

use super::scope::{self, required};
use crate::app::{ChangeContext, Engine};
use crate::convert::ownership_to_proto;
use crate::error::Error;
use crate::storage::customers::{self, CustomerRow};
use crate::storage::{contacts, decisions, managers};
use crate::time::parse_timestamp;

async fn administered_customer(
    engine: &Engine,
    caller: &Caller,
    customer_id: &str,
) -> Result<CustomerRow, Error> {
    let chain_id = scope::chain(caller)?;
    let customer_id = required("customer_id", customer_id)?;
    let row = customers::get(&engine.runtime.db, chain_id, customer_id)
        .await?
        .ok_or_else(|| Error::not_found("customer", customer_id))?;
    scope::require_customer_admin(caller, &row)?;
    Ok(row)
}

/// A change by hand, audited as `action`.
fn context(caller: &Caller, note: &str, action: &'static str) -> ChangeContext {
    ChangeContext {
        actor: caller.staff_id.clone(),
        note: note.trim().to_owned(),
        audit: Some((Actor::of(caller), action)),
        ..Default::default()
    }
}

pub async fn transfer(
    engine: &Engine,
    caller: &Caller,
    request: pb::TransferCustomerRequest,
) -> Result<pb::TransferCustomerResponse, Error> {
    let chain_id = scope::chain(caller)?;
    let row = administered_customer(engine, caller, &request.customer_id).await?;
    let to_manager_id = required("to_manager_id", &request.to_manager_id)?;
    let db = &engine.runtime.db;
    if let Some(stored) =
        idempotency::recall(db, chain_id, "TransferCustomer", &request.request_id).await?
    {
        return Ok(stored);
    }
    if let Some(target) = managers::get(db, chain_id, to_manager_id).await? {
        scope::require_manager_reader(caller, &target)?;
    }
    let row = engine
        .transfer(
            chain_id,
            &row.customer_id,
            to_manager_id,
            context(caller, &request.note, "assignment.customer.transfer"),
        )
        .await?;
    let response = pb::TransferCustomerResponse {
        ownership: Some(ownership_to_proto(&row)),
    };
    // A transfer to the current owner changes nothing, so remembering after the change
    // (not in its transaction) only loses the stored reply if the process dies in between.
    if let Err(error) = idempotency::remember(
        db,
        chain_id,
        "TransferCustomer",
        &request.request_id,
        &response,
    )
    .await
    {
        tracing::debug!(%error, "transfer reply already remembered");
    }
    Ok(response)
}

pub async fn lock(
    engine: &Engine,
    caller: &Caller,
    request: pb::LockCustomerRequest,
) -> Result<pb::LockCustomerResponse, Error> {
    let chain_id = scope::chain(caller)?;
    let row = administered_customer(engine, caller, &request.customer_id).await?;
    let row = engine
        .lock(
            chain_id,
            &row.customer_id,
            context(caller, &request.note, "assignment.customer.lock"),
        )
        .await?;
    Ok(pb::LockCustomerResponse {
        ownership: Some(ownership_to_proto(&row)),
    })
}

pub async fn unlock(
    engine: &Engine,
    caller: &Caller,
    request: pb::UnlockCustomerRequest,
) -> Result<pb::UnlockCustomerResponse, Error> {
    let chain_id = scope::chain(caller)?;
    let row = administered_customer(engine, caller, &request.customer_id).await?;
    let row = engine
        .unlock(
            chain_id,
            &row.customer_id,
            context(caller, &request.note, "assignment.customer.unlock"),
        )
        .await?;
    Ok(pb::UnlockCustomerResponse {
        ownership: Some(ownership_to_proto(&row)),
    })
}

pub async fn start_bulk(
    engine: &Arc<Engine>,
    caller: &Caller,
    request: pb::StartBulkTransferRequest,
) -> Result<pb::StartBulkTransferResponse, Error> {
    let chain_id = scope::chain(caller)?;
    let from = required("from_manager_id", &request.from_manager_id)?;
    let request_id = required("request_id", &request.request_id)?;
    if request.to_manager_ids.is_empty()
        || request.to_manager_ids.iter().any(|t| t.trim().is_empty())
    {
        return Err(Error::invalid(
            "to_manager_ids",
            "at least one non-empty manager id is required",
        ));
    }
    let from_row = managers::get(&engine.runtime.db, chain_id, from)
        .await?
        .ok_or_else(|| Error::not_found("manager", from))?;
    scope::require_manager_admin(caller, &from_row.store_ids)?;
    let job = engine
        .start_bulk_transfer(
            chain_id,
            from,
            &request.to_manager_ids,
            request_id,
            &Actor::of(caller),
        )
        .await?;
    Ok(pb::StartBulkTransferResponse {
        progress: Some(crate::app::progress(&job)),
    })
}

pub async fn get_bulk(
    engine: &Engine,
    caller: &Caller,
    request: pb::GetBulkTransferRequest,
) -> Result<pb::GetBulkTransferResponse, Error> {
    let chain_id = scope::chain(caller)?;
    scope::require_role(caller, scope::ADMINS)?;
    let job_id = required("job_id", &request.job_id)?;
    let (job, moved) = engine.bulk_transfer(chain_id, job_id).await?;
    Ok(pb::GetBulkTransferResponse {
        progress: Some(crate::app::progress(&job)),
        moved_per_manager: moved.into_iter().collect(),
    })
}

pub async fn stats(
    engine: &Engine,
    caller: &Caller,
    request: pb::GetManagerStatsRequest,
) -> Result<pb::GetManagerStatsResponse, Error> {
    let chain_id = scope::chain(caller)?;
    let manager_id = required("manager_id", &request.manager_id)?;
    let start = parse_timestamp("period_start", request.period_start.as_ref())?;
    let end = parse_timestamp("period_end", request.period_end.as_ref())?;
    if end <= start {
        return Err(Error::invalid("period_end", "must be after period_start"));
    }
    let db = &engine.runtime.db;
    let manager = managers::get(db, chain_id, manager_id)
        .await?
        .ok_or_else(|| Error::not_found("manager", manager_id))?;
    scope::require_manager_reader(caller, &manager)?;
    let (start_us, end_us) = (start.timestamp_micros(), end.timestamp_micros());
    let (owned, locked) = customers::owned_and_locked(db, chain_id, manager_id).await?;
    let (new_in_period, lost_in_period) =
        decisions::moves_in_period(db, chain_id, manager_id, start_us, end_us).await?;
    let revenue_fen =
        contacts::revenue_of_owned(db, chain_id, manager_id, start_us, end_us).await?;
    let follow_ups = crate::followups::summary(
        engine.runtime.config.upstream(ServiceName::Profile),
        &caller.token,
        manager_id,
        request.period_start.unwrap_or_default(),
        request.period_end.unwrap_or_default(),
    )
    .await;
    Ok(pb::GetManagerStatsResponse {
        owned,
        locked,
        new_in_period,
        lost_in_period,
        follow_ups_done: follow_ups.as_ref().map_or(0, |f| f.plans_completed),
        follow_ups_overdue: follow_ups.as_ref().map_or(0, |f| f.plans_overdue),
        revenue_fen,
        follow_ups_known: follow_ups.is_some(),
    })
}
