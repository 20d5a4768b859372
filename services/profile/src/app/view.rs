//! A customer as a caller may see it: the contract's `Customer`, phones masked for callers
//! who may not see full contact data (domain::access), and the scope rules for reading.

use std::collections::BTreeSet;

use maitre_kit::auth::{Caller, Role as KitRole};
use maitre_proto::{
    common::v1::{IdentityKey as ProtoKey, IdentityKind},
    profile::v1::{self as pb},
};
use sea_orm::ConnectionTrait;

use crate::{
    convert::{profile::to_proto, proto_key, timestamp, timestamp_us},
    domain::{
        access::{CustomerScope, Role, Viewer, can_view_full_contact, mask_phone},
        identity::IdentityKey,
        ids::{StaffId, StoreId},
    },
    error::{Error, Result},
    storage::{customer_stores, customers, customers::CustomerRow, identity},
};

/// The domain viewer of a verified caller.
pub fn viewer(caller: &Caller) -> Viewer {
    Viewer {
        role: match caller.role {
            KitRole::HqAdmin => Role::HqAdmin,
            KitRole::StoreManager => Role::StoreManager,
            KitRole::CustomerManager => Role::CustomerManager,
            KitRole::FrontDesk => Role::FrontDesk,
            KitRole::Service => Role::Service,
        },
        staff_id: Some(StaffId::new(caller.staff_id.clone())),
        store_ids: caller
            .stores
            .iter()
            .map(|s| StoreId::new(s.clone()))
            .collect(),
    }
}

/// The live customer `id` of the chain, following a merge to its survivor.
pub async fn live_customer(
    conn: &impl ConnectionTrait,
    chain: &str,
    id: &str,
) -> Result<CustomerRow> {
    let mut current = id.to_owned();
    // A survivor may itself have been merged later; a short chain of pointers.
    for _ in 0..8 {
        let row = customers::get(conn, chain, &current)
            .await?
            .ok_or_else(|| Error::not_found("customer", id))?;
        match &row.merged_into {
            Some(next) => current = next.clone(),
            None => return Ok(row),
        }
    }
    Err(Error::not_found("customer", id))
}

/// Builds the contract's customer for `caller` (one read: its keys and stores).
pub async fn customer_for(
    conn: &impl ConnectionTrait,
    chain: &str,
    row: &CustomerRow,
    caller: &Caller,
) -> Result<pb::Customer> {
    let (keys, stores) = customer_stores::keys_and_stores(conn, chain, &row.customer_id).await?;
    customer_from(row, &keys, stores, caller)
}

/// Builds the contract's customer for `caller` from its canonical keys and its stores.
pub fn customer_from(
    row: &CustomerRow,
    keys: &[String],
    stores: Vec<String>,
    caller: &Caller,
) -> Result<pb::Customer> {
    let keys = keys
        .iter()
        .map(|k| identity::parse_stored_key(k))
        .collect::<Result<Vec<IdentityKey>>>()?;
    let scope = CustomerScope {
        owner_manager_id: Some(row.owner_manager_id.clone())
            .filter(|o| !o.is_empty())
            .map(StaffId::new),
        store_ids: stores
            .into_iter()
            .map(StoreId::new)
            .collect::<BTreeSet<_>>(),
    };
    let full = can_view_full_contact(&viewer(caller), &scope);
    Ok(build(row, &keys, full))
}

/// The contract's customer from its row and keys; phones masked unless `full_contact`.
pub fn build(row: &CustomerRow, keys: &[IdentityKey], full_contact: bool) -> pb::Customer {
    let a = &row.aggregates;
    let identity_keys = keys
        .iter()
        .map(|key| match key {
            IdentityKey::Phone(phone) if !full_contact => ProtoKey {
                kind: IdentityKind::MaskedPhone as i32,
                value: mask_phone(phone),
                app_id: String::new(),
            },
            key => proto_key(key),
        })
        .collect();
    let favourites = |list: Vec<(&str, u64)>| {
        list.into_iter()
            .map(|(name, count)| pb::Favourite {
                name: name.to_owned(),
                count: i64::try_from(count).unwrap_or(i64::MAX),
            })
            .collect()
    };
    pb::Customer {
        customer_id: row.customer_id.clone(),
        identity_keys,
        profile: Some(to_proto(&row.profile)),
        aggregates: Some(pb::Aggregates {
            visits: i64::try_from(a.visit_count).unwrap_or(i64::MAX),
            spend_fen: a.spend_fen,
            average_ticket_fen: a.average_ticket_fen().unwrap_or(0),
            first_visit_time: a.first_visit_at.map(timestamp),
            last_visit_time: a.last_visit_at.map(timestamp),
            favourite_dishes: favourites(a.favourite_dishes(10)),
            favourite_categories: favourites(a.favourite_categories(10)),
            stores: a
                .per_store
                .iter()
                .map(|(store, f)| pb::StoreAggregate {
                    store_id: store.0.clone(),
                    visits: i64::try_from(f.visit_count).unwrap_or(i64::MAX),
                    spend_fen: f.spend_fen,
                    last_visit_time: f.last_visit_at.map(timestamp),
                })
                .collect(),
            bookings: row.bookings,
        }),
        classification: row.classification.clone(),
        home_store_id: row.home_store_id.clone(),
        create_time: Some(timestamp_us(row.created_at_us)),
        update_time: Some(timestamp_us(row.updated_at_us)),
        erased: row.erased,
        owner_manager_id: row.owner_manager_id.clone(),
    }
}

/// Store-scoped callers may act on a customer only through one of their stores (or, for
/// customer managers, their own customers); chain-wide roles on every customer.
pub async fn require_customer_scope(
    conn: &impl ConnectionTrait,
    chain: &str,
    row: &CustomerRow,
    caller: &Caller,
) -> Result<()> {
    if caller.role.is_chain_wide() {
        return Ok(());
    }
    if caller.role == KitRole::CustomerManager && row.owner_manager_id == caller.staff_id {
        return Ok(());
    }
    let stores = customer_stores::stores_of(conn, chain, &row.customer_id).await?;
    if stores.iter().any(|s| caller.can_access_store(s))
        || caller.can_access_store(&row.home_store_id)
    {
        return Ok(());
    }
    Err(Error::PermissionDenied(format!(
        "customer `{}` has no store in the caller's scope",
        row.customer_id
    )))
}

/// Writes aimed at one customer (a profile change, a follow-up): the kit's one rule
/// (`Caller::require_guest_writer`): a customer manager only on the customers they own, as
/// assignment decided (profile <- assignment); store-scoped roles through one of their stores.
pub async fn require_customer_writer(
    conn: &impl ConnectionTrait,
    chain: &str,
    row: &CustomerRow,
    caller: &Caller,
) -> Result<()> {
    if caller.role.is_chain_wide() {
        return Ok(());
    }
    let mut stores = customer_stores::stores_of(conn, chain, &row.customer_id).await?;
    stores.push(row.home_store_id.clone());
    caller
        .require_guest_writer(
            &row.customer_id,
            &row.owner_manager_id,
            stores.iter().map(String::as_str),
        )
        .map_err(|status| Error::PermissionDenied(status.message().to_owned()))
}
