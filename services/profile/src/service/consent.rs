//! Follows the consent choices guests make through notification's doors (an unsubscribe reply
//! such as "退订", notification's preferences API), read from notification's log as
//! `ConsentChanged`: the profile then shows the same consent, and `CustomerUpdated` tells every
//! service the choice as profile now holds it. On each channel the latest choice stands
//! (`domain::consent`), so a replay or an older choice arriving late changes nothing.

use std::sync::Arc;

use maitre_kit::eventlog::{ConsumeError, EventHandler, EventLog};
use maitre_proto::events::v1::{ConsentState, Event, event::Payload};
use sea_orm::DatabaseTransaction;

use super::announce::{customer_updated_with_contacts, marketing_channel};
use crate::{
    convert::time_of,
    domain::consent::{ConsentChoice, follow_consent_choice},
    storage::customers,
};

/// The cursor name of this consumer.
pub const CONSUMER: &str = "profile<-notification";

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
