//! The contract's `ContactEvent` → the domain's channel event, validated by
//! `domain::event::validate_event`, with the domain's field names mapped back to the
//! contract's (`visit.amount_fen` → `event.amount`).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use maitre_proto::{common::v1::EventChannel, events::v1::ContactKind, profile::v1::ContactEvent};

use super::{ParsedKeys, parse_keys, time_of};
use crate::{
    domain::{
        event::{
            Booking, CampaignResponse, CampaignResponseKind, Channel, CustomerEvent, EventBody,
            EventLimits, OrderLine, Review, ValidatedEvent, ValidationContext, Visit,
            validate_event,
        },
        identity::{IdentityKey, ParsedIdentity, RawIdentity},
        ids::{StaffId, StoreId},
    },
    error::{Error, Result},
};

/// A validated event with its keys and the customer it names directly, if any.
#[derive(Debug, Clone)]
pub struct EventInput {
    pub validated: ValidatedEvent,
    pub keys: ParsedKeys,
    pub customer_id: Option<String>,
}

fn channel_of(channel: i32) -> Option<Channel> {
    Some(match EventChannel::try_from(channel).ok()? {
        EventChannel::Pos => Channel::Pos,
        EventChannel::MiniProgram => Channel::MiniProgram,
        EventChannel::DeliveryPlatform => Channel::DeliveryPlatform,
        EventChannel::Phone => Channel::PhoneBooking,
        EventChannel::FrontDesk => Channel::FrontDesk,
        EventChannel::ManagerApp => Channel::ManagerApp,
        EventChannel::Unspecified => return None,
    })
}

/// The contract path of a domain event field.
pub fn api_field(domain_field: &str) -> String {
    let mapped = match domain_field {
        "channel_event_id" => "external_id",
        "notes" | "review.text" => "note",
        "booking.party_size" | "visit.party_size" => "party_size",
        "booking.manager_id" | "visit.manager_id" => "manager_id",
        "visit.amount_fen" => "amount",
        "review.rating" => "rating",
        "campaign_response.campaign_id" => "campaign_id",
        f if f.starts_with("identity") => "identity_keys",
        f => {
            if let Some(rest) = f.strip_prefix("visit.dishes") {
                return format!("event.lines{rest}");
            }
            f
        }
    };
    format!("event.{mapped}")
}

fn raw_identity(keys: &[IdentityKey]) -> RawIdentity {
    let mut raw = RawIdentity::default();
    for key in keys {
        match key {
            IdentityKey::Phone(p) if raw.phone.is_none() => raw.phone = Some(p.as_str().into()),
            IdentityKey::WechatUnionid(u) if raw.wechat_unionid.is_none() => {
                raw.wechat_unionid = Some(u.clone())
            }
            IdentityKey::WechatOpenid { appid, openid } if raw.wechat_openid.is_none() => {
                raw.wechat_appid = Some(appid.clone());
                raw.wechat_openid = Some(openid.clone());
            }
            IdentityKey::Platform { platform, user_id } if raw.platform.is_none() => {
                raw.platform = Some(platform.clone());
                raw.platform_user_id = Some(user_id.clone());
            }
            IdentityKey::MemberCard(card) if raw.member_card.is_none() => {
                raw.member_card = Some(card.clone())
            }
            _ => {}
        }
    }
    raw
}

fn non_negative_u32(field: &str, value: i32) -> Result<u32> {
    u32::try_from(value).map_err(|_| Error::invalid(field, "must not be negative"))
}

/// Validates `event` against the chain's `known_stores` at `now`; nothing is written.
pub fn validate(
    event: &ContactEvent,
    known_stores: &HashSet<StoreId>,
    now: DateTime<Utc>,
    limits: &EventLimits,
) -> Result<EventInput> {
    let channel = channel_of(event.channel)
        .ok_or_else(|| Error::invalid("event.channel", "a channel is required"))?;
    let kind = ContactKind::try_from(event.kind)
        .ok()
        .filter(|k| *k != ContactKind::Unspecified)
        .ok_or_else(|| Error::invalid("event.kind", "a contact kind is required"))?;
    let occurred_at = time_of("event.occurred_at", event.occurred_at.as_ref())?;
    let keys = parse_keys("event.identity_keys", &event.identity_keys)?;
    let customer_id = Some(event.customer_id.trim().to_owned()).filter(|c| !c.is_empty());
    if keys.keys.is_empty() && customer_id.is_none() {
        return Err(Error::invalid(
            "event.identity_keys",
            "at least one identity key (a masked phone is not one) or customer_id is required",
        ));
    }
    let manager_id = Some(event.manager_id.trim())
        .filter(|m| !m.is_empty())
        .map(StaffId::new);
    let party_size = non_negative_u32("event.party_size", event.party_size)?;
    let note = Some(event.note.clone()).filter(|n| !n.is_empty());
    let body = match kind {
        ContactKind::Booking => EventBody::Booking(Booking {
            reserved_for: match &event.booked_for {
                Some(ts) => time_of("event.booked_for", Some(ts))?,
                None => occurred_at,
            },
            party_size,
            manager_id,
        }),
        ContactKind::Visit => EventBody::Visit(Visit {
            amount_fen: event.amount.as_ref().map_or(0, |m| m.amount_fen),
            party_size: (party_size > 0).then_some(party_size),
            dishes: event
                .lines
                .iter()
                .enumerate()
                .map(|(i, line)| {
                    Ok(OrderLine {
                        dish_id: Some(line.dish_id.trim().to_owned()).filter(|d| !d.is_empty()),
                        dish_name: line.dish_name.clone(),
                        category: line.category.clone(),
                        quantity: non_negative_u32(
                            &format!("event.lines[{i}].quantity"),
                            line.quantity,
                        )?,
                    })
                })
                .collect::<Result<Vec<_>>>()?,
            manager_id,
        }),
        ContactKind::Review => EventBody::Review(Review {
            rating: u8::try_from(event.rating).unwrap_or(0),
            text: event.note.clone(),
        }),
        ContactKind::CampaignResponse | ContactKind::Unspecified => {
            EventBody::CampaignResponse(CampaignResponse {
                campaign_id: event.campaign_id.clone(),
                response: CampaignResponseKind::Redeemed,
            })
        }
    };
    if kind != ContactKind::Visit && event.amount.as_ref().is_some_and(|m| m.amount_fen < 0) {
        return Err(Error::invalid("event.amount", "must not be negative"));
    }
    let domain_event = CustomerEvent {
        channel,
        channel_event_id: event.external_id.clone(),
        store_id: StoreId::new(event.store_id.trim()),
        occurred_at,
        // An event naming its customer may carry no key; the domain's identity rule is
        // then met by a placeholder that is never stored (see below).
        identity: if keys.keys.is_empty() {
            RawIdentity {
                member_card: Some("customer-id-only".into()),
                ..RawIdentity::default()
            }
        } else {
            raw_identity(&keys.keys)
        },
        notes: if kind == ContactKind::Review {
            None
        } else {
            note
        },
        body,
    };
    let ctx = ValidationContext {
        known_stores,
        now,
        limits,
    };
    let mut validated = validate_event(domain_event, ctx).map_err(|errors| {
        let first = errors
            .0
            .first()
            .map_or("event".to_owned(), |e| api_field(e.field()));
        let message = errors
            .0
            .iter()
            .map(|e| format!("{}: {}", api_field(e.field()), reason(e)))
            .collect::<Vec<_>>()
            .join("; ");
        Error::invalid(first, message)
    })?;
    // The keys are ours (the placeholder of a customer-id-only event is never kept).
    validated.identity = ParsedIdentity {
        keys: keys.keys.clone(),
        masked_phone_hint: keys.masked_phone_hint.clone(),
    };
    Ok(EventInput {
        validated,
        keys,
        customer_id,
    })
}

fn reason(error: &crate::domain::error::FieldError) -> String {
    let text = error.to_string();
    text.split_once(": ")
        .map(|(_, r)| r.to_owned())
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_fields_map_to_contract_fields() {
        assert_eq!(api_field("visit.amount_fen"), "event.amount");
        assert_eq!(
            api_field("visit.dishes[2].category"),
            "event.lines[2].category"
        );
        assert_eq!(api_field("store_id"), "event.store_id");
        assert_eq!(api_field("identity.phone"), "event.identity_keys");
        assert_eq!(api_field("channel_event_id"), "event.external_id");
    }
}
