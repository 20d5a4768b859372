//! One consent per guest and channel across profile and notification, whichever door it came
//! through. Profile's choices (create, PATCH) arrive on its stream as `CustomerUpdated.consent`
//! and are followed here ([`follow_profile`]); choices made at notification's doors (an
//! unsubscribe reply, the preferences API) are announced as `ConsentChanged` ([`announce`]),
//! which profile follows. On each channel the latest choice stands on both sides
//! (`ConsentState::follow`), so replays and late arrivals change nothing.

use chrono::{DateTime, Utc};
use maitre_kit::eventlog::EventLog;
use maitre_proto::events::v1::{
    ConsentChanged, ConsentChoice, ConsentState as ProtoState, EventScope, event::Payload,
};
use sea_orm::ConnectionTrait;

use crate::convert::{channel_from_proto, channel_to_proto, timestamp_from_us, timestamp_to_utc};
use crate::domain::channel::Channel;
use crate::domain::consent::{ChannelConsent, ConsentState};
use crate::error::Result;

/// Follows the profile's choices in `consent`; returns whether anything changed.
pub fn follow_profile(consent: &mut ConsentState, choices: &[ConsentChoice]) -> bool {
    let mut changed = false;
    for choice in choices {
        let Ok(channel) = channel_from_proto("consent.channel", choice.channel) else {
            continue;
        };
        let Some(at) = choice.choice_time.as_ref().and_then(timestamp_to_utc) else {
            continue;
        };
        let state = match ProtoState::try_from(choice.state) {
            Ok(ProtoState::OptedIn) => ChannelConsent::OptedIn { at },
            Ok(ProtoState::OptedOut) => ChannelConsent::OptedOut { at },
            _ => ChannelConsent::Unknown,
        };
        changed |= consent.follow(channel, state, at);
    }
    changed
}

/// Appends `ConsentChanged` for the guest's choice on `channel` (made at `now` when it is
/// [`ChannelConsent::Unknown`]), in the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub async fn announce(
    events: &EventLog,
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    channel: Channel,
    consent: ChannelConsent,
    source: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let (state, at) = match consent {
        ChannelConsent::OptedIn { at } => (ProtoState::OptedIn, at),
        ChannelConsent::OptedOut { at } => (ProtoState::OptedOut, at),
        ChannelConsent::Unknown => (ProtoState::Unspecified, now),
    };
    events
        .append(
            conn,
            chain_id,
            EventScope {
                customer_id: customer_id.to_owned(),
                ..EventScope::default()
            },
            Payload::ConsentChanged(ConsentChanged {
                customer_id: customer_id.to_owned(),
                choice: Some(ConsentChoice {
                    channel: channel_to_proto(channel) as i32,
                    state: state as i32,
                    choice_time: Some(timestamp_from_us(at.timestamp_micros())),
                }),
                source: source.to_owned(),
            }),
        )
        .await?;
    Ok(())
}

/// Announces every channel whose choice differs between `before` and `after`.
#[allow(clippy::too_many_arguments)]
pub async fn announce_changes(
    events: &EventLog,
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    before: &ConsentState,
    after: &ConsentState,
    source: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut announced = false;
    for channel in Channel::ALL.into_iter().filter(|c| c.reaches_customer()) {
        if before.get(channel) != after.get(channel) {
            announce(
                events,
                conn,
                chain_id,
                customer_id,
                channel,
                after.get(channel),
                source,
                now,
            )
            .await?;
            announced = true;
        }
    }
    Ok(announced)
}
