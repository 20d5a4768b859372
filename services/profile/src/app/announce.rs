//! What profile tells the other services about a guest (`CustomerUpdated`): the profile after a
//! change (name, gender, birthday, attributes), the consent choice per channel with its time, and
//! the favourite dish and category. Notification addresses and reaches guests by these; they are
//! built here once for every path that changes them (edits, upserts, visits, consent followed
//! from notification), and how the guest is reached (`contacts`: phone, WeChat openids, WeCom
//! external contact id, e-mail) wherever the change read them.

use maitre_proto::{
    common::v1::MessageChannel,
    events::v1::{
        ConsentChoice, ConsentState, CustomerUpdated, EventScope, GuestContacts, WechatOpenid,
        event::Payload,
    },
};
use sea_orm::ConnectionTrait;

use crate::{
    convert::{self, timestamp_us},
    domain::{
        aggregates::Aggregates,
        consent::ConsentChoice as Choice,
        identity::IdentityKey,
        profile::{MarketingChannel, Profile},
    },
    error::Result,
    storage::{customers::CustomerRow, identity},
};

/// The profile attribute holding the guest's e-mail address (profile has no e-mail key: an
/// address is not an identity, two guests may share one).
pub const EMAIL_ATTRIBUTE: &str = "email";
/// The profile attribute holding the guest's WeCom external contact id (`external_userid`),
/// as the manager's WeCom client reports it.
pub const WECOM_EXTERNAL_USERID_ATTRIBUTE: &str = "wecom_external_userid";
/// The path naming a change of the guest's contacts in `changed_paths`.
pub const CONTACTS_PATH: &str = "contacts";

/// How `profile`'s guest with identity `keys` is reached: the first phone (canonical order),
/// every WeChat openid with its app, the WeCom external contact id and e-mail attributes.
pub fn guest_contacts(profile: &Profile, keys: &[IdentityKey]) -> GuestContacts {
    let mut contacts = GuestContacts {
        email: profile
            .attributes
            .get(EMAIL_ATTRIBUTE)
            .cloned()
            .unwrap_or_default(),
        wecom_external_userid: profile
            .attributes
            .get(WECOM_EXTERNAL_USERID_ATTRIBUTE)
            .cloned()
            .unwrap_or_default(),
        ..GuestContacts::default()
    };
    for key in keys {
        match key {
            IdentityKey::Phone(phone) if contacts.phone_e164.is_empty() => {
                contacts.phone_e164 = phone.as_str().to_owned();
            }
            IdentityKey::WechatOpenid { appid, openid } => {
                contacts.wechat_openids.push(WechatOpenid {
                    appid: appid.clone(),
                    openid: openid.clone(),
                })
            }
            _ => {}
        }
    }
    contacts
}

/// [`customer_updated`] carrying the guest's contacts, read with the customer's keys.
pub async fn customer_updated_with_contacts(
    conn: &impl ConnectionTrait,
    chain: &str,
    row: &CustomerRow,
    changed_paths: Vec<String>,
) -> Result<(EventScope, Payload)> {
    let keys = identity::keys_of(conn, chain, &row.customer_id).await?;
    Ok(with_contacts(
        customer_updated(row, changed_paths),
        guest_contacts(&row.profile, &keys),
    ))
}

/// `event` (a `CustomerUpdated`) carrying `contacts`.
pub fn with_contacts(
    (scope, mut payload): (EventScope, Payload),
    contacts: GuestContacts,
) -> (EventScope, Payload) {
    if let Payload::CustomerUpdated(updated) = &mut payload {
        updated.contacts = Some(contacts);
    }
    (scope, payload)
}

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
            contacts: None,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_take_the_first_phone_every_openid_and_the_contact_attributes() {
        let keys: Vec<IdentityKey> = [
            "member_card:889",
            "phone:+8613800138000",
            "phone:+8613900139000",
            "wechat_openid:wxapp1:o-abc",
        ]
        .iter()
        .map(|k| k.parse().expect("a canonical key"))
        .collect();
        let mut profile = Profile::default();
        profile
            .attributes
            .insert(EMAIL_ATTRIBUTE.into(), "li@example.com".into());
        profile
            .attributes
            .insert(WECOM_EXTERNAL_USERID_ATTRIBUTE.into(), "wmEXT1".into());
        let contacts = guest_contacts(&profile, &keys);
        assert_eq!(contacts.phone_e164, "+8613800138000");
        assert_eq!(
            contacts.wechat_openids,
            vec![WechatOpenid {
                appid: "wxapp1".into(),
                openid: "o-abc".into()
            }]
        );
        assert_eq!(contacts.email, "li@example.com");
        assert_eq!(contacts.wecom_external_userid, "wmEXT1");
        assert_eq!(
            guest_contacts(&Profile::default(), &[]),
            GuestContacts::default()
        );
    }
}
