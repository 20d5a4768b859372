//! Ownership RPCs: AssignOnContact (the per-contact decision), GetOwnership,
//! ListOwnershipHistory (the "why"), ListManagerCustomers, ListUnassigned.

use maitre_kit::{
    auth::{Caller, Role},
    page::next_token,
};
use maitre_proto::assignment::v1 as pb;

use super::scope::{self, required};
use crate::app::{ContactInput, Engine};
use crate::convert::{decision_to_proto, ownership_to_proto};
use crate::error::Error;
use crate::storage::customers::{self, CustomerRow};
use crate::storage::{decisions, managers};
use crate::time::parse_timestamp;

pub async fn assign_on_contact(
    engine: &Engine,
    caller: &Caller,
    request: pb::AssignOnContactRequest,
) -> Result<pb::AssignOnContactResponse, Error> {
    let chain_id = scope::chain(caller)?;
    scope::require_role(
        caller,
        &[
            Role::Service,
            Role::HqAdmin,
            Role::StoreManager,
            Role::FrontDesk,
        ],
    )?;
    let customer_id = required("customer_id", &request.customer_id)?;
    let store_id = required("store_id", &request.store_id)?;
    let source_event_id = required("source_event_id", &request.source_event_id)?;
    scope::require_store(caller, store_id)?;
    if request.amount_fen < 0 {
        return Err(Error::invalid("amount_fen", "must not be negative"));
    }
    let occurred_at = parse_timestamp("occurred_at", request.occurred_at.as_ref())?;
    let latest_other_contact_us = request
        .latest_other_contact_time
        .as_ref()
        .map(|at| parse_timestamp("latest_other_contact_time", Some(at)))
        .transpose()?
        .map(|at| at.timestamp_micros());
    let outcome = engine
        .assign_on_contact(ContactInput {
            chain_id: chain_id.to_owned(),
            customer_id: customer_id.to_owned(),
            store_id: store_id.to_owned(),
            contact_manager_id: request.contact_manager_id.trim().to_owned(),
            amount_fen: request.amount_fen,
            occurred_at,
            source_event_id: source_event_id.to_owned(),
            latest_other_contact_us,
        })
        .await?;
    Ok(pb::AssignOnContactResponse {
        ownership: Some(ownership_to_proto(&outcome.row)),
        changed: outcome.changed,
    })
}

async fn readable_customer(
    engine: &Engine,
    caller: &Caller,
    customer_id: &str,
) -> Result<CustomerRow, Error> {
    let chain_id = scope::chain(caller)?;
    let customer_id = required("customer_id", customer_id)?;
    let row = customers::get(&engine.runtime.db, chain_id, customer_id)
        .await?
        .ok_or_else(|| Error::not_found("customer", customer_id))?;
    scope::require_customer_reader(caller, &row)?;
    Ok(row)
}

pub async fn get_ownership(
    engine: &Engine,
    caller: &Caller,
    request: pb::GetOwnershipRequest,
) -> Result<pb::GetOwnershipResponse, Error> {
    let row = readable_customer(engine, caller, &request.customer_id).await?;
    Ok(pb::GetOwnershipResponse {
        ownership: Some(ownership_to_proto(&row)),
    })
}

pub async fn list_history(
    engine: &Engine,
    caller: &Caller,
    request: pb::ListOwnershipHistoryRequest,
) -> Result<pb::ListOwnershipHistoryResponse, Error> {
    let page = scope::page(request.page_size, &request.page_token)?;
    let row = readable_customer(engine, caller, &request.customer_id).await?;
    let before_seq = if page.after.is_empty() {
        i64::MAX
    } else {
        page.after
            .parse()
            .map_err(|_| Error::invalid("page_token", "not a token from a previous response"))?
    };
    let chain_id = scope::chain(caller)?;
    let rows = decisions::of_customer(
        &engine.runtime.db,
        chain_id,
        &row.customer_id,
        before_seq,
        page.size + 1,
    )
    .await?;
    let more = rows.len() as u64 > page.size;
    let rows: Vec<_> = rows.into_iter().take(page.size as usize).collect();
    let next_page_token = match rows.last() {
        Some(last) if more => next_token(&last.seq.to_string()),
        _ => String::new(),
    };
    Ok(pb::ListOwnershipHistoryResponse {
        decisions: rows.iter().map(decision_to_proto).collect(),
        next_page_token,
    })
}

fn page_of(rows: Vec<CustomerRow>, size: u64) -> (Vec<pb::Ownership>, String) {
    let more = rows.len() as u64 > size;
    let rows: Vec<CustomerRow> = rows.into_iter().take(size as usize).collect();
    let token = match rows.last() {
        Some(last) if more => next_token(&last.customer_id),
        _ => String::new(),
    };
    (rows.iter().map(ownership_to_proto).collect(), token)
}

pub async fn list_manager_customers(
    engine: &Engine,
    caller: &Caller,
    request: pb::ListManagerCustomersRequest,
) -> Result<pb::ListManagerCustomersResponse, Error> {
    let chain_id = scope::chain(caller)?;
    let page = scope::page(request.page_size, &request.page_token)?;
    let manager_id = required("manager_id", &request.manager_id)?;
    let manager = managers::get(&engine.runtime.db, chain_id, manager_id)
        .await?
        .ok_or_else(|| Error::not_found("manager", manager_id))?;
    if caller.role == Role::CustomerManager && caller.staff_id != manager.manager_id {
        return Err(Error::PermissionDenied(
            "customer managers see only their own customers".into(),
        ));
    }
    scope::require_manager_reader(caller, &manager)?;
    let rows = customers::of_manager(
        &engine.runtime.db,
        chain_id,
        manager_id,
        request.locked_only,
        &page.after,
        page.size + 1,
    )
    .await?;
    let (ownerships, next_page_token) = page_of(rows, page.size);
    Ok(pb::ListManagerCustomersResponse {
        ownerships,
        next_page_token,
    })
}

pub async fn list_unassigned(
    engine: &Engine,
    caller: &Caller,
    request: pb::ListUnassignedRequest,
) -> Result<pb::ListUnassignedResponse, Error> {
    let chain_id = scope::chain(caller)?;
    let page = scope::page(request.page_size, &request.page_token)?;
    let store_id = (!request.store_id.is_empty()).then_some(request.store_id.as_str());
    match store_id {
        Some(store_id) => scope::require_store(caller, store_id)?,
        None if !caller.role.is_chain_wide() => {
            return Err(Error::invalid(
                "store_id",
                "is required for store-scoped callers",
            ));
        }
        None => {}
    }
    let rows = customers::pool(
        &engine.runtime.db,
        chain_id,
        store_id,
        &page.after,
        page.size + 1,
    )
    .await?;
    let (ownerships, next_page_token) = page_of(rows, page.size);
    Ok(pb::ListUnassignedResponse {
        ownerships,
        next_page_token,
    })
}
