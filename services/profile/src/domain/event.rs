//! Customer events from the channels, and the rules that admit them.
//!
//! Bookings, visits/orders, reviews and campaign responses arrive from POS,
//! the mini-program, delivery platforms and phone or front-desk booking
//! (ARCHITECTURE "Domain"). [`validate_event`] checks one event against the
//! chain's stores and limits at a given `now` and reports every broken rule by
//! field. De-duplication by `channel_event_id` is the store's job: the same
//! event delivered twice must change nothing.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{
    aggregates::{DishOrdered, VisitFacts},
    error::{FieldError, FieldErrors, check_max_chars},
    identity::{ParsedIdentity, RawIdentity, parse_identity},
    ids::{StaffId, StoreId},
};

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Pos,
    MiniProgram,
    DeliveryPlatform,
    PhoneBooking,
    FrontDesk,
    /// A customer manager's own app.
    ManagerApp,
}

/// One event as a channel delivered it.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerEvent {
    pub channel: Channel,
    /// The channel's own id for this event (idempotency key).
    pub channel_event_id: String,
    pub store_id: StoreId,
    pub occurred_at: DateTime<Utc>,
    pub identity: RawIdentity,
    pub notes: Option<String>,
    pub body: EventBody,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    Booking(Booking),
    Visit(Visit),
    Review(Review),
    CampaignResponse(CampaignResponse),
}

/// A table booked for a future time (`reserved_for` may lie ahead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub reserved_for: DateTime<Utc>,
    pub party_size: u32,
    /// The customer manager the booking was made with (seed 000 §二, 最后接触).
    pub manager_id: Option<StaffId>,
}

/// A visit or order, dine-in or delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    pub amount_fen: i64,
    /// Delivery orders often carry no party size.
    pub party_size: Option<u32>,
    pub dishes: Vec<OrderLine>,
    pub manager_id: Option<StaffId>,
}

/// One dish on an order; channels that send only names leave `dish_id` empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    pub dish_id: Option<String>,
    pub dish_name: String,
    pub category: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub rating: u8,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CampaignResponseKind {
    Opened,
    Clicked,
    Redeemed,
    OptedOut,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignResponse {
    pub campaign_id: String,
    pub response: CampaignResponseKind,
}

/// Chain-configurable sanity bounds for incoming events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLimits {
    pub max_amount_fen: i64,
    pub future_tolerance_ms: i64,
    pub max_notes_chars: usize,
    pub max_review_chars: usize,
    pub max_party_size: u32,
    pub max_order_lines: usize,
    pub max_id_chars: usize,
}

impl Default for EventLimits {
    fn default() -> Self {
        Self {
            max_amount_fen: 10_000_000, // ¥100,000
            future_tolerance_ms: 10 * 60 * 1000,
            max_notes_chars: 2_000,
            max_review_chars: 2_000,
            max_party_size: 500,
            max_order_lines: 500,
            max_id_chars: 128,
        }
    }
}

/// What validation needs to know besides the event.
#[derive(Debug, Clone, Copy)]
pub struct ValidationContext<'a> {
    pub known_stores: &'a HashSet<StoreId>,
    pub now: DateTime<Utc>,
    pub limits: &'a EventLimits,
}

/// An event that passed validation, with its identity parsed into keys.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedEvent {
    pub event: CustomerEvent,
    pub identity: ParsedIdentity,
}

impl ValidatedEvent {
    /// The facts a visit adds to the customer's aggregates, if it is a visit; its day is
    /// the local day in `store_zone`, the zone of the store it was placed in.
    pub fn visit_facts(&self, store_zone: chrono_tz::Tz) -> Option<VisitFacts> {
        let EventBody::Visit(visit) = &self.event.body else {
            return None;
        };
        Some(VisitFacts {
            store_id: self.event.store_id.clone(),
            visited_at: self.event.occurred_at,
            local_day: maitre_kit::visits::visit_day(self.event.occurred_at, store_zone),
            amount_fen: visit.amount_fen,
            dishes: visit
                .dishes
                .iter()
                .map(|line| DishOrdered {
                    // A menu id when the channel sent one, else the name the
                    // channel used (ARCHITECTURE "Menu").
                    dish_key: line
                        .dish_id
                        .clone()
                        .unwrap_or_else(|| line.dish_name.clone()),
                    category: line.category.clone(),
                })
                .collect(),
        })
    }
}

/// Checks `event` and returns it with parsed identity, or every broken rule.
pub fn validate_event(
    event: CustomerEvent,
    ctx: ValidationContext<'_>,
) -> Result<ValidatedEvent, FieldErrors> {
    let limits = ctx.limits;
    let mut errors = Vec::new();

    if let Err(error) = id_field("channel_event_id", &event.channel_event_id, limits) {
        errors.push(error);
    }
    if !ctx.known_stores.contains(&event.store_id) {
        errors.push(FieldError::UnknownStore {
            field: "store_id".into(),
            store_id: event.store_id.0.clone(),
        });
    }
    errors.extend(not_in_future("occurred_at", event.occurred_at, ctx));
    if let Some(notes) = &event.notes {
        errors.extend(check_max_chars("notes", notes, limits.max_notes_chars).err());
    }

    let identity = match parse_identity("identity", &event.identity) {
        Ok(parsed) if parsed.keys.is_empty() => {
            // A masked phone alone is a hint, not an identity.
            errors.push(FieldError::Missing {
                field: "identity".into(),
            });
            parsed
        }
        Ok(parsed) => parsed,
        Err(FieldErrors(identity_errors)) => {
            errors.extend(identity_errors);
            ParsedIdentity::default()
        }
    };

    match &event.body {
        EventBody::Booking(booking) => {
            errors.extend(party_size("booking.party_size", booking.party_size, limits));
            errors.extend(manager("booking.manager_id", &booking.manager_id, limits));
        }
        EventBody::Visit(visit) => validate_visit(visit, limits, &mut errors),
        EventBody::Review(review) => {
            if !(1..=5).contains(&review.rating) {
                errors.push(FieldError::OutOfRange {
                    field: "review.rating".into(),
                    value: i64::from(review.rating),
                    min: 1,
                    max: 5,
                });
            }
            errors.extend(
                check_max_chars("review.text", &review.text, limits.max_review_chars).err(),
            );
        }
        EventBody::CampaignResponse(response) => {
            errors.extend(
                id_field(
                    "campaign_response.campaign_id",
                    &response.campaign_id,
                    limits,
                )
                .err(),
            );
        }
    }

    if errors.is_empty() {
        Ok(ValidatedEvent { event, identity })
    } else {
        Err(FieldErrors(errors))
    }
}

fn validate_visit(visit: &Visit, limits: &EventLimits, errors: &mut Vec<FieldError>) {
    if visit.amount_fen < 0 {
        errors.push(FieldError::NegativeAmount {
            field: "visit.amount_fen".into(),
            amount_fen: visit.amount_fen,
        });
    } else if visit.amount_fen > limits.max_amount_fen {
        errors.push(FieldError::AmountOverLimit {
            field: "visit.amount_fen".into(),
            amount_fen: visit.amount_fen,
            max_fen: limits.max_amount_fen,
        });
    }
    if let Some(size) = visit.party_size {
        errors.extend(party_size("visit.party_size", size, limits));
    }
    errors.extend(manager("visit.manager_id", &visit.manager_id, limits));
    if visit.dishes.len() > limits.max_order_lines {
        errors.push(FieldError::OutOfRange {
            field: "visit.dishes".into(),
            value: i64::try_from(visit.dishes.len()).unwrap_or(i64::MAX),
            min: 0,
            max: i64::try_from(limits.max_order_lines).unwrap_or(i64::MAX),
        });
        return;
    }
    for (index, line) in visit.dishes.iter().enumerate() {
        let field = |name: &str| format!("visit.dishes[{index}].{name}");
        if line.dish_name.trim().is_empty() && line.dish_id.is_none() {
            errors.push(FieldError::Missing {
                field: field("dish_name"),
            });
        }
        if let Some(id) = &line.dish_id {
            errors.extend(id_field(&field("dish_id"), id, limits).err());
        }
        if line.category.trim().is_empty() {
            errors.push(FieldError::Missing {
                field: field("category"),
            });
        }
        if line.quantity == 0 {
            errors.push(FieldError::OutOfRange {
                field: field("quantity"),
                value: 0,
                min: 1,
                max: i64::from(u32::MAX),
            });
        }
    }
}

fn not_in_future(field: &str, at: DateTime<Utc>, ctx: ValidationContext<'_>) -> Option<FieldError> {
    let ahead_ms = (at - ctx.now).num_milliseconds();
    (ahead_ms > ctx.limits.future_tolerance_ms).then(|| FieldError::InFuture {
        field: field.to_owned(),
        ahead_ms,
        tolerance_ms: ctx.limits.future_tolerance_ms,
    })
}

fn party_size(field: &str, size: u32, limits: &EventLimits) -> Option<FieldError> {
    // proto3 cannot tell 0 from absent: an unset size reads "is required", not "0 is outside".
    if size == 0 {
        return Some(FieldError::Invalid {
            field: field.to_owned(),
            reason: format!("is required (1..={})", limits.max_party_size),
        });
    }
    (size > limits.max_party_size).then(|| FieldError::OutOfRange {
        field: field.to_owned(),
        value: i64::from(size),
        min: 1,
        max: i64::from(limits.max_party_size),
    })
}

fn manager(field: &str, manager: &Option<StaffId>, limits: &EventLimits) -> Option<FieldError> {
    manager
        .as_ref()
        .and_then(|id| id_field(field, id.as_str(), limits).err())
}

fn id_field(field: &str, id: &str, limits: &EventLimits) -> Result<(), FieldError> {
    if id.trim().is_empty() {
        return Err(FieldError::Missing {
            field: field.to_owned(),
        });
    }
    check_max_chars(field, id, limits.max_id_chars)
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
