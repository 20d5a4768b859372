//! Customers: get, lookup, list, profile updates with a field mask, manual merges and
//! erasure (upsert by identity is `upsert`). Front desk callers see phones masked and cannot list.

use chrono::Utc;
use maitre_kit::{
    auth::{Caller, Role},
    idempotency,
};
use maitre_proto::profile::v1::{self as pb};

use super::{ProfileServiceApi, next_page, page};
use crate::{
    app::{
        announce::customer_updated_with_contacts,
        begin_write,
        classify::load_context,
        merge,
        view::{
            customer_for, customer_from, live_customer, require_customer_scope,
            require_customer_writer,
        },
    },
    convert::{parse_one_key, profile as profile_convert, required, time_of},
    domain::{consent::stamp_consent_changes, profile::apply_mask},
    error::{Error, Result},
    storage::customers,
};

pub(super) const WRITERS: &[Role] = &[
    Role::HqAdmin,
    Role::StoreManager,
    Role::CustomerManager,
    Role::FrontDesk,
    Role::Service,
];
const PROFILE_EDITORS: &[Role] = &[
    Role::HqAdmin,
    Role::StoreManager,
    Role::CustomerManager,
    Role::Service,
];

pub(super) async fn get(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::GetCustomerRequest,
) -> Result<pb::GetCustomerResponse> {
    let chain = caller.chain()?;
    let row = live_customer(
        &api.runtime.db,
        chain,
        required("customer_id", &r.customer_id)?,
    )
    .await?;
    require_customer_scope(&api.runtime.db, chain, &row, caller).await?;
    Ok(pb::GetCustomerResponse {
        customer: Some(customer_for(&api.runtime.db, chain, &row, caller).await?),
    })
}

pub(super) async fn lookup(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::LookupCustomerRequest,
) -> Result<pb::LookupCustomerResponse> {
    let chain = caller.chain()?;
    let key = parse_one_key("identity_key", r.identity_key.as_ref())?;
    let Some((row, keys, stores)) =
        customers::by_key_with_view(&api.runtime.db, chain, &key.canonical()).await?
    else {
        return Err(Error::not_found("customer with identity key", key.kind()));
    };
    // The front desk finds arriving guests of any store; what it sees is masked.
    Ok(pb::LookupCustomerResponse {
        customer: Some(customer_from(&row, &keys, stores, caller)?),
    })
}

pub(super) async fn list(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::ListCustomersRequest,
) -> Result<pb::ListCustomersResponse> {
    let chain = caller.chain()?;
    // Listing is exporting: the front desk may not (ARCHITECTURE "Domain").
    caller.require_role(&[
        Role::HqAdmin,
        Role::StoreManager,
        Role::CustomerManager,
        Role::Service,
    ])?;
    let (offset, size) = page(r.page_size, &r.page_token)?;
    let mut filter = customers::CustomerFilter {
        store_id: Some(r.store_id.trim().to_owned()).filter(|s| !s.is_empty()),
        class: (r.class != 0).then_some(r.class),
        last_visit_before_us: r
            .last_visit_before
            .as_ref()
            .map(|t| time_of("last_visit_before", Some(t)))
            .transpose()?
            .map(|t| t.timestamp_micros()),
        owner_manager_id: Some(r.owner_manager_id.trim().to_owned()).filter(|s| !s.is_empty()),
        store_scope: None,
    };
    if let Some(store) = &filter.store_id {
        caller.require_store(store)?;
    }
    match caller.role {
        Role::StoreManager => filter.store_scope = Some(caller.stores.clone()),
        Role::CustomerManager if filter.owner_manager_id.is_none() => {
            filter.owner_manager_id = Some(caller.staff_id.clone())
        }
        _ => {}
    }
    let rows = customers::list(&api.runtime.db, chain, &filter, offset, size).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(customer_for(&api.runtime.db, chain, row, caller).await?);
    }
    Ok(pb::ListCustomersResponse {
        next_page_token: next_page(offset, size, rows.len()),
        customers: out,
    })
}

pub(super) async fn update(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::UpdateCustomerRequest,
) -> Result<pb::UpdateCustomerResponse> {
    let chain = caller.chain()?;
    caller.require_role(PROFILE_EDITORS)?;
    let customer = r
        .customer
        .ok_or_else(|| Error::invalid("customer", "is required"))?;
    let id = required("customer.customer_id", &customer.customer_id)?.to_owned();
    let mut paths = Vec::new();
    for path in r.update_mask.map(|m| m.paths).unwrap_or_default() {
        match path.strip_prefix("profile.") {
            Some(p) => paths.push(p.to_owned()),
            None if path == "profile" => paths.push("*".to_owned()),
            None => {
                return Err(Error::invalid(
                    "update_mask",
                    format!("unknown field path `{path}`"),
                ));
            }
        }
    }
    let patch =
        profile_convert::from_proto("customer.profile.", &customer.profile.unwrap_or_default())?;
    let txn = begin_write(&api.runtime.db).await?;
    if let Some(first) = idempotency::recall(&txn, chain, "UpdateCustomer", &r.request_id).await? {
        // A replay: nothing to change; end the transaction before answering.
        txn.rollback().await?;
        return Ok(first);
    }
    let mut row = live_customer(&txn, chain, &id).await?;
    require_customer_writer(&txn, chain, &row, caller).await?;
    if row.erased {
        return Err(Error::FailedPrecondition {
            field: "customer.customer_id".into(),
            message: "the customer was erased".into(),
        });
    }
    let before = row.profile.clone();
    row.profile = apply_mask(&row.profile, &patch, &paths).map_err(|e| match e {
        crate::domain::error::FieldError::UnknownPath { path } => Error::invalid(
            "update_mask",
            format!("unknown field path `profile.{path}`"),
        ),
        e => Error::field("customer.profile.", &e),
    })?;
    row.updated_at_us = Utc::now().timestamp_micros();
    stamp_consent_changes(&before, &mut row.profile, row.updated_at_us);
    customers::save(&txn, chain, &row).await?;
    let (scope, payload) = customer_updated_with_contacts(
        &txn,
        chain,
        &row,
        paths.iter().map(|p| format!("profile.{p}")).collect(),
    )
    .await?;
    api.runtime
        .events
        .append(&txn, chain, scope, payload)
        .await?;
    let response = pb::UpdateCustomerResponse {
        customer: Some(customer_for(&txn, chain, &row, caller).await?),
    };
    idempotency::remember(&txn, chain, "UpdateCustomer", &r.request_id, &response).await?;
    txn.commit().await?;
    api.runtime.events.committed();
    Ok(response)
}

pub(super) async fn merge(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::MergeCustomersRequest,
) -> Result<pb::MergeCustomersResponse> {
    let chain = caller.chain()?;
    caller.require_role(&[Role::HqAdmin, Role::StoreManager, Role::Service])?;
    let survivor = required("survivor_id", &r.survivor_id)?.to_owned();
    if r.absorbed_ids.is_empty() {
        return Err(Error::invalid(
            "absorbed_ids",
            "at least one customer to merge is required",
        ));
    }
    for (i, id) in r.absorbed_ids.iter().enumerate() {
        required(&format!("absorbed_ids[{i}]"), id)?;
        if *id == survivor {
            return Err(Error::invalid(
                format!("absorbed_ids[{i}]"),
                "the survivor cannot absorb itself",
            ));
        }
    }
    let now = Utc::now();
    let class = load_context(&api.runtime.db, chain, now).await?;
    let txn = begin_write(&api.runtime.db).await?;
    if let Some(first) = idempotency::recall(&txn, chain, "MergeCustomers", &r.request_id).await? {
        // A replay: nothing to change; end the transaction before answering.
        txn.rollback().await?;
        return Ok(first);
    }
    for id in std::iter::once(&survivor).chain(&r.absorbed_ids) {
        let row = customers::get(&txn, chain, id)
            .await?
            .filter(|c| c.merged_into.is_none())
            .ok_or_else(|| Error::not_found("customer", id.as_str()))?;
        require_customer_scope(&txn, chain, &row, caller).await?;
    }
    let mut row = merge::merge_into(
        &txn,
        &api.runtime.events,
        chain,
        &survivor,
        &r.absorbed_ids,
        "manual",
        now.timestamp_micros(),
    )
    .await?;
    if let Some(change) = crate::app::classify::reclassify(&mut row, &class, now) {
        customers::save(&txn, chain, &row).await?;
        crate::app::classify::emit_change(&txn, &api.runtime.events, chain, &row, change).await?;
    }
    let response = pb::MergeCustomersResponse {
        customer: Some(customer_for(&txn, chain, &row, caller).await?),
    };
    idempotency::remember(&txn, chain, "MergeCustomers", &r.request_id, &response).await?;
    txn.commit().await?;
    api.runtime.events.committed();
    Ok(response)
}

pub(super) async fn erase(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::EraseCustomerRequest,
) -> Result<pb::EraseCustomerResponse> {
    let chain = caller.chain()?;
    caller.require_role(&[Role::HqAdmin, Role::Service])?;
    let id = required("customer_id", &r.customer_id)?;
    let txn = begin_write(&api.runtime.db).await?;
    if let Some(first) = idempotency::recall(&txn, chain, "EraseCustomer", &r.request_id).await? {
        // A replay: nothing to change; end the transaction before answering.
        txn.rollback().await?;
        return Ok(first);
    }
    let row = merge::erase(
        &txn,
        &api.runtime.events,
        chain,
        id,
        Utc::now().timestamp_micros(),
    )
    .await?;
    let response = pb::EraseCustomerResponse {
        customer: Some(customer_for(&txn, chain, &row, caller).await?),
    };
    idempotency::remember(&txn, chain, "EraseCustomer", &r.request_id, &response).await?;
    txn.commit().await?;
    api.runtime.events.committed();
    Ok(response)
}
