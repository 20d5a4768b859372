//! Who may do what (ARCHITECTURE "Domain": roles and store scope). The chain always comes
//! from the token; an id of another chain is simply not found.

use maitre_kit::auth::{Caller, Role};

use crate::error::Error;
use crate::storage::customers::CustomerRow;
use crate::storage::managers::ManagerRow;

/// The caller's one chain.
pub fn chain(caller: &Caller) -> Result<&str, Error> {
    caller
        .chain()
        .map_err(|status| Error::PermissionDenied(status.message().to_owned()))
}

pub fn require_role(caller: &Caller, allowed: &[Role]) -> Result<(), Error> {
    caller
        .require_role(allowed)
        .map_err(|status| Error::PermissionDenied(status.message().to_owned()))
}

pub fn require_store(caller: &Caller, store_id: &str) -> Result<(), Error> {
    caller
        .require_store(store_id)
        .map_err(|status| Error::PermissionDenied(status.message().to_owned()))
}

/// Roles that change the roster, policies and ownership by hand.
pub const ADMINS: &[Role] = &[Role::HqAdmin, Role::StoreManager, Role::Service];

/// May the caller change this manager (all of the manager's stores in scope)?
pub fn require_manager_admin(caller: &Caller, stores: &[String]) -> Result<(), Error> {
    require_role(caller, ADMINS)?;
    for store in stores {
        require_store(caller, store)?;
    }
    Ok(())
}

/// May the caller see this manager (a shared store, or themselves)?
pub fn require_manager_reader(caller: &Caller, manager: &ManagerRow) -> Result<(), Error> {
    if caller.role.is_chain_wide()
        || caller.staff_id == manager.manager_id
        || manager.store_ids.iter().any(|s| caller.can_access_store(s))
    {
        Ok(())
    } else {
        Err(Error::PermissionDenied(format!(
            "manager `{}` is outside the caller's stores",
            manager.manager_id
        )))
    }
}

/// May the caller read this customer's ownership (their own customer, or their store)?
pub fn require_customer_reader(caller: &Caller, row: &CustomerRow) -> Result<(), Error> {
    if caller.role.is_chain_wide()
        || caller.staff_id == row.manager_id
        || caller.can_access_store(&row.store_id)
    {
        Ok(())
    } else {
        Err(Error::PermissionDenied(format!(
            "customer `{}` is outside the caller's scope",
            row.customer_id
        )))
    }
}

/// May the caller change this customer's ownership by hand?
pub fn require_customer_admin(caller: &Caller, row: &CustomerRow) -> Result<(), Error> {
    require_role(caller, ADMINS)?;
    require_store(caller, &row.store_id)
}

/// A required, non-empty string field.
pub fn required<'a>(field: &str, value: &'a str) -> Result<&'a str, Error> {
    if value.trim().is_empty() {
        Err(Error::invalid(field, "is required"))
    } else {
        Ok(value)
    }
}

/// A validated page request (page_size 1–500, default 100).
pub fn page(page_size: i32, page_token: &str) -> Result<maitre_kit::page::PageRequest, Error> {
    maitre_kit::page::PageRequest::parse(page_size, page_token, 500)
        .map_err(|status| Error::Status(Box::new(status)))
}
