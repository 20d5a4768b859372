//! What profile consumes from other services' logs, and where what it emits is built.
//!
//! Emitted (through the transactional outbox, `maitre_kit::eventlog`): `CustomerCreated`,
//! `CustomerUpdated`, `ContactRecorded`, `ClassChanged`, `CustomersMerged`, `FollowUpDue`…
//! — their payloads are built in `app::announce` and `app::record` next to the writes
//! they describe, so an event and its change commit together.
//!
//! Consumed, each under its own cursor ([`follow_all`] starts them):
//! - assignment's `OwnerChanged` ([`OwnerEvents`]): keeps each customer's
//!   `owner_manager_id` current — transfers, bulk transfers, allocations and merge
//!   decisions. The owner decides what a customer manager may see unmasked, so it must not
//!   go stale between contacts. A new owner also receives the customer's follow-up plans
//!   nobody holds (as on `AssignOnContact`'s answer).
//! - notification's `ConsentChanged` ([`ConsentEvents`]): the consent choices guests make
//!   through notification's doors (an unsubscribe reply such as "退订", the preferences
//!   API). The profile then shows the same consent and `CustomerUpdated` tells every service;
//!   on each channel the latest choice stands (`domain::consent`), so a replay or an older
//!   choice arriving late changes nothing.

use std::{future::Future, sync::Arc};

use maitre_kit::{
    config::ServiceName,
    eventlog::{ConsumeError, EventHandler, EventLog},
    runtime::Runtime,
};
use maitre_proto::events::v1::{ConsentState, Event, event::Payload};
use sea_orm::DatabaseTransaction;
use tokio::task::JoinHandle;

use crate::{
    app::announce::{customer_updated_with_contacts, marketing_channel},
    convert::time_of,
    domain::consent::{ConsentChoice, follow_consent_choice},
    storage::{customers, followups},
};

/// Follows assignment's and notification's logs until `stopped` resolves (one task each).
pub fn follow_all<S>(runtime: &Runtime, stopped: impl Fn() -> S) -> Vec<JoinHandle<()>>
where
    S: Future<Output = ()> + Send + 'static,
{
    let owners = (
        OWNERS_CONSUMER,
        ServiceName::Assignment,
        Arc::new(OwnerEvents) as Arc<dyn EventHandler>,
    );
    let consent = (
        CONSENT_CONSUMER,
        ServiceName::Notification,
        Arc::new(ConsentEvents {
            log: runtime.events.clone(),
        }) as Arc<dyn EventHandler>,
    );
    [owners, consent]
        .into_iter()
        .map(|(cursor, upstream, handler)| {
            let (runtime, stopped) = (runtime.clone(), stopped());
            tokio::spawn(async move {
                maitre_kit::eventlog::follow(&runtime, cursor, upstream, handler, stopped).await;
            })
        })
        .collect()
}

/// The cursor name of this consumer.
pub const OWNERS_CONSUMER: &str = "profile<-assignment";

/// Applies `OwnerChanged` events to the customers table.
pub struct OwnerEvents;

#[async_trait::async_trait]
impl EventHandler for OwnerEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> Result<(), ConsumeError> {
        if let Some(Payload::OwnerChanged(change)) = &event.payload {
            customers::set_owner(
                txn,
                &event.chain_id,
                &change.customer_id,
                &change.to_manager_id,
            )
            .await?;
            followups::hand_unheld_plans_to_owner(
                txn,
                &event.chain_id,
                &change.customer_id,
                &change.to_manager_id,
            )
            .await?;
        }
        Ok(())
    }
}

/// The cursor name of this consumer.
pub const CONSENT_CONSUMER: &str = "profile<-notification";

/// Applies notification's `ConsentChanged` to the customers' profiles.
pub struct ConsentEvents {
    pub log: Arc<EventLog>,
}

#[async_trait::async_trait]
impl EventHandler for ConsentEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> Result<(), ConsumeError> {
        let Some(Payload::ConsentChanged(change)) = &event.payload else {
            return Ok(());
        };
        let Some(choice) = &change.choice else {
            return Ok(());
        };
        let Some(channel) = marketing_channel(choice.channel) else {
            return Ok(());
        };
        let at_us = time_of("choice.choice_time", choice.choice_time.as_ref())?.timestamp_micros();
        let state = match ConsentState::try_from(choice.state) {
            Ok(ConsentState::OptedIn) => ConsentChoice::OptedIn,
            Ok(ConsentState::OptedOut) => ConsentChoice::OptedOut,
            _ => ConsentChoice::None,
        };
        let chain = event.chain_id.as_str();
        let mut id = change.customer_id.clone();
        // A guest merged since is one guest: the choice is the survivor's.
        let row = loop {
            match customers::get_for_update(txn, chain, &id).await? {
                Some(row) => match &row.merged_into {
                    Some(survivor) if *survivor != id => id = survivor.clone(),
                    _ => break Some(row),
                },
                None => break None,
            }
        };
        let Some(mut row) = row.filter(|row| !row.erased) else {
            return Ok(());
        };
        if follow_consent_choice(&mut row.profile, channel, state, at_us) {
            customers::save(txn, chain, &row).await?;
            let path = format!("profile.consent.{}", channel_path(channel));
            let (scope, payload) =
                customer_updated_with_contacts(txn, chain, &row, vec![path]).await?;
            self.log.append(txn, chain, scope, payload).await?;
        }
        Ok(())
    }
}

fn channel_path(channel: crate::domain::profile::MarketingChannel) -> &'static str {
    use crate::domain::profile::MarketingChannel as C;
    match channel {
        C::Sms => "sms",
        C::Wechat => "wechat",
        C::Email => "email",
        C::AppPush => "app_push",
    }
}
