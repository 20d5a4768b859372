//! What profile tells the other services about a guest (`CustomerUpdated`): the profile after a
//! change (name, gender, birthday, attributes), the consent choice per channel with its time, and
//! the favourite dish and category. Notification addresses and reaches guests by these; they are
//! built here once for every path that changes them (edits, upserts, visits, consent followed
//! from notification).

use maitre_proto::{
    common::v1::MessageChannel,
    events::v1::{ConsentChoice, ConsentState, CustomerUpdated, EventScope, event::Payload},
};

use crate::{
    convert::{self, timestamp_us},
    domain::{
        aggregates::Aggregates,
        consent::ConsentChoice as Choice,
        profile::{MarketingChannel, Profile},
    },
    storage::customers::CustomerRow,
};

/// The path naming a change of the favourite dish or category in `changed_paths`.
pub const FAVOURITES_PATH: &str = "aggregates.favourites";

/// The contract channel of a marketing channel.
pub fn message_channel(channel: MarketingChannel) -> MessageChannel {
    match channel {
        MarketingChannel::Sms => MessageChannel::Sms,
        MarketingChannel::Wechat => MessageChannel::Wechat,
        MarketingChannel::Email => MessageChannel::Email,
        MarketingChannel::AppPush => MessageChannel::AppPush,
    }
}

/// The marketing channel of a contract channel (`None`: not a guest channel).
pub fn marketing_channel(channel: i32) -> Option<MarketingChannel> {
    MarketingChannel::ALL
        .into_iter()
        .find(|c| message_channel(*c) as i32 == channel)
}

/// The consent choices of `profile` on every channel a choice was ever made on.
fn consent_choices(profile: &Profile) -> Vec<ConsentChoice> {
    MarketingChannel::ALL
        .into_iter()
        .filter_map(|channel| {
            let at_us = profile.consent_choice_time_us(channel)?;
            let state = match profile.consent_choice(channel) {
                Choice::None => ConsentState::Unspecified,
                Choice::OptedIn => ConsentState::OptedIn,
                Choice::OptedOut => ConsentState::OptedOut,
            };
            Some(ConsentChoice {
                channel: message_channel(channel) as i32,
                state: state as i32,
                choice_time: Some(timestamp_us(at_us)),
            })
        })
        .collect()
}

/// The favourite dish and category (the most visits; empty when none yet).
pub fn favourites(aggregates: &Aggregates) -> (String, String) {
    let first = |list: Vec<(&str, u64)>| {
        list.first()
            .map(|(name, _)| (*name).to_owned())
            .unwrap_or_default()
    };
    (
        first(aggregates.favourite_dishes(1)),
        first(aggregates.favourite_categories(1)),
    )
}

/// `CustomerUpdated` of `row` after a change of `changed_paths`.
pub fn customer_updated(row: &CustomerRow, changed_paths: Vec<String>) -> (EventScope, Payload) {
    let profile = &row.profile;
    let (favourite_dish, favourite_category) = favourites(&row.aggregates);
    (
        EventScope {
            customer_id: row.customer_id.clone(),
            store_id: row.home_store_id.clone(),
            manager_id: row.owner_manager_id.clone(),
        },
        Payload::CustomerUpdated(CustomerUpdated {
            customer_id: row.customer_id.clone(),
            changed_paths,
            birthday: convert::profile::to_proto(profile).birthday,
            attributes: profile
                .attributes
                .clone()
                .into_iter()
                .chain([("gender".to_owned(), profile.gender.clone())])
                .collect(),
            name: profile.name.clone(),
            gender: profile.gender.clone(),
            consent: consent_choices(profile),
            favourite_dish,
            favourite_category,
        }),
    )
}
