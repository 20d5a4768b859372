//! Store scope on customer-level calls, as profile rules it (`profile::service::view::
//! require_customer_scope`): hq_admin and service act chain-wide; store-scoped roles
//! (store_manager, customer_manager, front_desk) only on customers known at one of their
//! stores (the stores of the customer's contacts, learnt from `ContactRecorded`).
//! Others are PERMISSION_DENIED, as in profile.

use std::collections::HashSet;

use maitre_kit::auth::Caller;
use sea_orm::ConnectionTrait;

use crate::{
    error::{Result, TaggingError},
    storage::places::{customers_at_stores, stores_of},
};

/// Refuses a store-scoped caller on a customer none of whose stores is theirs.
pub async fn require_customer_scope(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    caller: &Caller,
    customer_id: &str,
) -> Result<()> {
    if caller.role.is_chain_wide() {
        return Ok(());
    }
    let stores = stores_of(conn, chain_id, customer_id).await?;
    if stores.iter().any(|s| caller.can_access_store(s)) {
        return Ok(());
    }
    Err(TaggingError::OutOfScope {
        customer_id: customer_id.to_owned(),
    })
}

/// The customers a store-scoped caller may act on; `None` for chain-wide callers.
pub async fn customers_in_scope(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    caller: &Caller,
) -> Result<Option<HashSet<String>>> {
    if caller.role.is_chain_wide() {
        return Ok(None);
    }
    Ok(Some(
        customers_at_stores(conn, chain_id, &caller.stores)
            .await?
            .into_iter()
            .collect(),
    ))
}
