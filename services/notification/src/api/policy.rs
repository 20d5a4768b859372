//! Contact policy and preferences RPCs: the chain's caps and quiet hours, each guest's consent per
//! channel, and inbound replies ("TD"/"退订" opts the guest out of that channel).

use chrono::Utc;
use maitre_kit::auth::{Caller, Role};
use maitre_proto::notification::v1::{
    CustomerPreferences, GetChainPolicyRequest, GetChainPolicyResponse,
    GetCustomerPreferencesRequest, GetCustomerPreferencesResponse, RecordInboundReplyRequest,
    RecordInboundReplyResponse, UpdateChainPolicyRequest, UpdateChainPolicyResponse,
    UpdateCustomerPreferencesRequest, UpdateCustomerPreferencesResponse,
};
use tonic::{Request, Response, Status};

use super::NotificationServiceApi;
use crate::app::delivery::append_status_event;
use crate::convert::{channel_from_proto, channel_to_proto};
use crate::domain::channel::Channel;
use crate::domain::consent::{ChannelConsent, ConsentState};
use crate::error::{Error, Result};
use crate::events::consent_sync;
use crate::storage::facts;
use crate::storage::messages::{self, RowUpdate};
use crate::storage::policy::{self, Preferences};

fn preferences_to_proto(customer_id: &str, preferences: &Preferences) -> CustomerPreferences {
    let mut proto = CustomerPreferences {
        customer_id: customer_id.to_owned(),
        locale: preferences.locale.clone(),
        ..CustomerPreferences::default()
    };
    for channel in Channel::ALL {
        match preferences.consent.get(channel) {
            ChannelConsent::OptedIn { .. } => proto
                .marketing_opt_in
                .push(channel_to_proto(channel) as i32),
            ChannelConsent::OptedOut { .. } => {
                proto.opted_out.push(channel_to_proto(channel) as i32)
            }
            ChannelConsent::Unknown => {}
        }
    }
    proto
}

fn channels(field: &str, values: &[i32]) -> Result<Vec<Channel>> {
    values
        .iter()
        .enumerate()
        .map(|(index, value)| channel_from_proto(&format!("{field}[{index}]"), *value))
        .collect()
}

fn customer_id(field: &str, value: &str) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    Ok(value.to_owned())
}

impl NotificationServiceApi {
    /// NOT_FOUND unless the customer exists in `chain`: known from the streams' facts, else asked of
    /// profile (as this service, for `chain` only: existence is not the caller's data scope).
    /// Profile unreachable is UNAVAILABLE, retryable — never an answer about a guest it cannot see.
    async fn require_customer(&self, chain: &str, customer: &str) -> Result<(), Status> {
        if facts::known(&self.runtime.db, chain, customer).await? {
            return Ok(());
        }
        let Some(profile) = &self.profile else {
            return Err(maitre_kit::error::unavailable(
                "profile",
                "not configured; the customer cannot be checked",
            ));
        };
        let token = self
            .runtime
            .minter
            .service_token("notification", chain)
            .map_err(|e| maitre_kit::error::unavailable("profile", e))?;
        let request = maitre_proto::profile::v1::GetCustomerRequest {
            customer_id: customer.to_owned(),
        };
        match profile
            .clone()
            .get_customer(maitre_kit::client::outgoing(request, &token))
            .await
        {
            Ok(_) => Ok(()),
            Err(status) if status.code() == tonic::Code::NotFound => Err(Error::NotFound {
                kind: "customer",
                id: customer.to_owned(),
            }
            .into()),
            Err(status) => Err(maitre_kit::error::unavailable("profile", status)),
        }
    }

    pub(super) async fn get_chain_policy_rpc(
        &self,
        request: Request<GetChainPolicyRequest>,
    ) -> Result<Response<GetChainPolicyResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        let policy = policy::get(&self.runtime.db, caller.chain()?).await?;
        Ok(Response::new(GetChainPolicyResponse {
            policy: Some(policy),
        }))
    }

    pub(super) async fn update_chain_policy_rpc(
        &self,
        request: Request<UpdateChainPolicyRequest>,
    ) -> Result<Response<UpdateChainPolicyResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        caller.require_role(&[Role::HqAdmin])?;
        let chain = caller.chain()?.to_owned();
        let proposed = request
            .into_inner()
            .policy
            .ok_or_else(|| Error::invalid("policy", "is required"))?;
        policy::validate(&proposed)?;
        let txn = maitre_kit::db::begin_write(&self.runtime.db)
            .await
            .map_err(Error::from)?;
        let before = policy::get(&txn, &chain).await?;
        policy::put(&txn, &chain, &proposed).await?;
        let stored = policy::get(&txn, &chain).await?;
        maitre_kit::audit::record(
            &txn,
            &maitre_kit::audit::Actor::of(&caller),
            &chain,
            maitre_kit::audit::Change {
                action: "notification.chain_policy.update",
                target_type: "chain_policy",
                target_id: "chain",
                before: maitre_kit::audit::json_of(&before),
                after: maitre_kit::audit::json_of(&stored),
            },
        )
        .await?;
        txn.commit().await.map_err(Error::from)?;
        Ok(Response::new(UpdateChainPolicyResponse {
            policy: Some(stored),
        }))
    }

    pub(super) async fn get_customer_preferences_rpc(
        &self,
        request: Request<GetCustomerPreferencesRequest>,
    ) -> Result<Response<GetCustomerPreferencesResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        let chain = caller.chain()?;
        let customer = customer_id("customer_id", &request.get_ref().customer_id)?;
        self.require_customer(chain, &customer).await?;
        let stored = policy::preferences(&self.runtime.db, chain, &customer).await?;
        Ok(Response::new(GetCustomerPreferencesResponse {
            preferences: Some(preferences_to_proto(&customer, &stored)),
        }))
    }

    pub(super) async fn update_customer_preferences_rpc(
        &self,
        request: Request<UpdateCustomerPreferencesRequest>,
    ) -> Result<Response<UpdateCustomerPreferencesResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        caller.require_role(&[
            Role::HqAdmin,
            Role::StoreManager,
            Role::CustomerManager,
            Role::Service,
        ])?;
        let chain = caller.chain()?.to_owned();
        let request = request.into_inner();
        let wanted = request
            .preferences
            .ok_or_else(|| Error::invalid("preferences", "is required"))?;
        let customer = customer_id("preferences.customer_id", &wanted.customer_id)?;
        self.require_customer(&chain, &customer).await?;
        self.require_guest_writer(&caller, &chain, &customer)
            .await?;
        let paths: Vec<String> = match request.update_mask {
            Some(mask) if !mask.paths.is_empty() => mask.paths,
            _ => ["marketing_opt_in", "opted_out", "locale"]
                .map(String::from)
                .to_vec(),
        };
        let db = &self.runtime.db;
        let txn = maitre_kit::db::begin_write(db).await.map_err(Error::from)?;
        let stored = policy::preferences(&txn, &chain, &customer).await?;
        let current = preferences_to_proto(&customer, &stored);
        let mut opt_in = channels("preferences.marketing_opt_in", &current.marketing_opt_in)?;
        let mut opted_out = channels("preferences.opted_out", &current.opted_out)?;
        let mut locale = stored.locale.clone();
        for path in &paths {
            match path.as_str() {
                "marketing_opt_in" => {
                    opt_in = channels("preferences.marketing_opt_in", &wanted.marketing_opt_in)?
                }
                "opted_out" => opted_out = channels("preferences.opted_out", &wanted.opted_out)?,
                "locale" => {
                    crate::storage::templates::locale_from_str(&wanted.locale)
                        .ok_or_else(|| Error::invalid("preferences.locale", "use zh-CN or en"))?;
                    locale = wanted.locale.clone();
                }
                other => {
                    return Err(Error::invalid(
                        "update_mask",
                        format!(
                            "`{other}` cannot be updated (marketing_opt_in, opted_out, locale)"
                        ),
                    )
                    .into());
                }
            }
        }
        if let Some(both) = opt_in.iter().find(|c| opted_out.contains(c)) {
            return Err(Error::invalid(
                "preferences.opted_out",
                format!("{both} is both opted in and opted out"),
            )
            .into());
        }
        let now = Utc::now();
        let mut consent = ConsentState::new();
        for channel in Channel::ALL {
            let previous = stored.consent.get(channel);
            let next = if opted_out.contains(&channel) {
                match previous {
                    ChannelConsent::OptedOut { .. } => previous,
                    _ => ChannelConsent::OptedOut { at: now },
                }
            } else if opt_in.contains(&channel) {
                match previous {
                    ChannelConsent::OptedIn { .. } => previous,
                    _ => ChannelConsent::OptedIn { at: now },
                }
            } else {
                ChannelConsent::Unknown
            };
            if next != ChannelConsent::Unknown {
                consent.set(channel, next);
            }
        }
        let announced = consent_sync::announce_changes(
            &self.runtime.events,
            &txn,
            &chain,
            &customer,
            &stored.consent,
            &consent,
            "preferences",
            now,
        )
        .await?;
        let updated = Preferences { consent, locale };
        policy::put_preferences(&txn, &chain, &customer, &updated).await?;
        txn.commit().await.map_err(Error::from)?;
        if announced {
            self.runtime.events.committed();
        }
        Ok(Response::new(UpdateCustomerPreferencesResponse {
            preferences: Some(preferences_to_proto(&customer, &updated)),
        }))
    }

    /// The customer an inbound reply's sender key names, asked of profile with the caller's
    /// own token (so the look-up stays within the caller's chain).
    async fn sender_customer(
        &self,
        caller: &Caller,
        sender: &maitre_proto::common::v1::IdentityKey,
    ) -> Result<String, Status> {
        let Some(profile) = &self.profile else {
            return Err(Status::unavailable(
                "sender: the profile service is not configured; send customer_id",
            ));
        };
        let request = maitre_proto::profile::v1::LookupCustomerRequest {
            identity_key: Some(sender.clone()),
        };
        let answer = profile
            .clone()
            .lookup_customer(maitre_kit::client::outgoing(request, &caller.token))
            .await
            .map_err(|status| match status.code() {
                tonic::Code::NotFound => Status::from(Error::NotFound {
                    kind: "customer with the sender's key",
                    id: sender.value.clone(),
                }),
                tonic::Code::InvalidArgument => {
                    Status::from(Error::invalid("sender", status.message().to_owned()))
                }
                tonic::Code::PermissionDenied => status,
                _ => maitre_kit::error::unavailable("profile", status),
            })?;
        answer
            .into_inner()
            .customer
            .map(|c| c.customer_id)
            .ok_or_else(|| Status::unavailable("profile answered without a customer"))
    }

    pub(super) async fn record_inbound_reply_rpc(
        &self,
        request: Request<RecordInboundReplyRequest>,
    ) -> Result<Response<RecordInboundReplyResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        caller.require_role(&[Role::HqAdmin, Role::Service])?;
        let chain = caller.chain()?.to_owned();
        let request = request.into_inner();
        let channel = channel_from_proto("channel", request.channel)?;
        let customer = match (&request.sender, request.customer_id.trim().is_empty()) {
            (Some(sender), true) => self.sender_customer(&caller, sender).await?,
            _ => customer_id("customer_id", &request.customer_id)?,
        };
        let unsubscribed = self
            .apply_inbound_reply(&chain, &customer, channel, &request.text)
            .await?;
        Ok(Response::new(RecordInboundReplyResponse { unsubscribed }))
    }

    /// A guest's reply on `channel` (`RecordInboundReply`, and the providers' inbound SMS,
    /// `api::callbacks`): "TD"/"退订"/"unsubscribe"… opts the guest out of the channel (profile
    /// follows through the consent event); any other text is a response to the latest message
    /// sent there. Returns whether it unsubscribed. A repeat changes nothing more: an opted-out
    /// guest stays opted out, a responded message stays responded.
    pub(super) async fn apply_inbound_reply(
        &self,
        chain: &str,
        customer: &str,
        channel: crate::domain::channel::Channel,
        text: &str,
    ) -> Result<bool, Status> {
        let (chain, customer) = (chain.to_owned(), customer.to_owned());
        let now = Utc::now();
        let db = &self.runtime.db;
        let txn = maitre_kit::db::begin_write(db).await.map_err(Error::from)?;
        let mut stored = policy::preferences(&txn, &chain, &customer).await?;
        // A repeated unsubscribe (a provider's retried callback) keeps the first opt-out's time
        // and is not announced again.
        let already_out = matches!(
            stored.consent.get(channel),
            crate::domain::consent::ChannelConsent::OptedOut { .. }
        );
        let unsubscribed = if already_out {
            crate::domain::consent::is_unsubscribe_reply(text)
        } else {
            stored.consent.apply_reply(channel, text, now)
        };
        let mut announced = false;
        if unsubscribed && already_out {
            // Nothing changes.
        } else if unsubscribed {
            policy::put_preferences(&txn, &chain, &customer, &stored).await?;
            // Profile follows, so the guest's profile shows the opt-out too.
            consent_sync::announce(
                &self.runtime.events,
                &txn,
                &chain,
                &customer,
                channel,
                stored.consent.get(channel),
                "inbound_reply",
                now,
            )
            .await?;
            announced = true;
        } else if let Some(row) = messages::latest_sent(&txn, &chain, &customer, channel).await? {
            // Any other reply is a response to the latest message (campaign stats, responder scores).
            let now_us = now.timestamp_micros();
            if messages::set_status(
                &txn,
                &chain,
                &row.message_id,
                None,
                "responded",
                "inbound_reply",
                &RowUpdate::default(),
                now_us,
            )
            .await?
            {
                append_status_event(
                    &self.runtime.events,
                    &txn,
                    &row,
                    "responded",
                    "inbound_reply",
                )
                .await?;
                announced = true;
            }
        }
        txn.commit().await.map_err(Error::from)?;
        if announced {
            self.runtime.events.committed();
        }
        Ok(unsubscribed)
    }
}
