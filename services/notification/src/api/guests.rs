//! Calls that name a guest (a direct send, a preview for a customer) render what profile's stream
//! told this service of them. A guest the stream has not brought yet (it lags by moments) is
//! waited for briefly; still unknown, profile is asked whether they exist: a clear NOT_FOUND, or
//! UNAVAILABLE to retry shortly — never a message rendered with another guest's or sample words.

use std::time::Duration;

use maitre_kit::auth::Caller;
use maitre_proto::profile::v1::GetCustomerRequest;
use tonic::Status;

use super::NotificationServiceApi;
use crate::domain::guest::Guest;
use crate::error::Error;
use crate::storage::{facts, stores};

/// How long a call waits for profile's stream to bring a guest.
const AWAIT_GUEST: Duration = Duration::from_secs(3);
/// How often it looks again meanwhile.
const AWAIT_GUEST_POLL: Duration = Duration::from_millis(100);

impl NotificationServiceApi {
    /// What messages say of `customer_id` (`field` of the request), waiting briefly for
    /// profile's stream.
    pub(super) async fn guest_named(
        &self,
        caller: &Caller,
        chain: &str,
        field: &str,
        customer_id: &str,
    ) -> Result<Guest, Status> {
        let deadline = tokio::time::Instant::now() + AWAIT_GUEST;
        loop {
            if let Some(guest) = facts::guest(&self.runtime.db, chain, customer_id).await? {
                return Ok(guest);
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(AWAIT_GUEST_POLL).await;
        }
        let Some(profile) = &self.profile else {
            return Err(Status::unavailable(format!(
                "{field}: not yet known to notification; retry shortly"
            )));
        };
        let request = GetCustomerRequest {
            customer_id: customer_id.to_owned(),
        };
        match profile
            .clone()
            .get_customer(maitre_kit::client::outgoing(request, &caller.token))
            .await
        {
            Ok(_) => Err(Status::unavailable(format!(
                "{field}: the customer exists but has not reached notification yet \
                 (profile's event stream is behind); retry shortly"
            ))),
            Err(status) if status.code() == tonic::Code::NotFound => Err(Error::NotFound {
                kind: "customer",
                id: customer_id.to_owned(),
            }
            .into()),
            Err(status) if status.code() == tonic::Code::PermissionDenied => Err(status),
            Err(status) => Err(maitre_kit::error::unavailable("profile", status)),
        }
    }

    /// Refuses a guest-directed write (a message, a preference) the caller may not make, by the
    /// kit's one rule (`Caller::require_guest_writer`) over what this service knows: the owner
    /// (assignment's `OwnerChanged`) and the home store (profile). A customer manager's own
    /// guest whose owner has not reached this service yet is waited for briefly, like the guest.
    pub(super) async fn require_guest_writer(
        &self,
        caller: &Caller,
        chain: &str,
        customer_id: &str,
    ) -> Result<(), Status> {
        if caller.role.is_chain_wide() {
            return Ok(());
        }
        let db = &self.runtime.db;
        let deadline = tokio::time::Instant::now() + AWAIT_GUEST;
        loop {
            let owner = facts::get(db, chain, customer_id).await?.owner_id;
            let store = stores::customer_store(db, chain, customer_id).await?;
            let allowed = caller.may_act_on_guest(&owner, store.iter().map(String::as_str));
            let settled = match caller.role {
                maitre_kit::auth::Role::CustomerManager => !owner.is_empty(),
                _ => store.is_some(),
            };
            if allowed || settled || tokio::time::Instant::now() >= deadline {
                return caller.require_guest_writer(
                    customer_id,
                    &owner,
                    store.iter().map(String::as_str),
                );
            }
            tokio::time::sleep(AWAIT_GUEST_POLL).await;
        }
    }
}
