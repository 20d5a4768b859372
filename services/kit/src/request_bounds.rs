//! Bounds every request meets before a handler runs: how many items a repeated or map field
//! and how many characters a string may hold, the window of times and dates, and the
//! currencies money may be in.
//!
//! The one table of these bounds. [`crate::request_text::RequestTextLayer`] enforces it on
//! every request of every service (INVALID_ARGUMENT naming the field, nothing changed), and
//! the gateway's OpenAPI document reads it (`maxItems`, `minimum`/`maximum`, `enum`), so the
//! contract states exactly what is enforced. A handler may refuse tighter, never looser:
//! where a service had its own limit, the table repeats it.
//!
//! Must not know any service's rules beyond these sizes and windows.

use prost_reflect::{DynamicMessage, FieldDescriptor, MapKey, ReflectMessage, Value};

/// Items a repeated or map field of a request may hold unless [`MAX_ITEMS_BY_FIELD`] says
/// otherwise: enough for any form a person fills, far below what costs a service seconds.
pub const MAX_ITEMS: usize = 100;

/// Per-field item bounds (full proto field names). Batch calls carry more; lists that a
/// service keeps per guest carry fewer (the service's own limit, repeated here).
pub const MAX_ITEMS_BY_FIELD: &[(&str, usize)] = &[
    ("maitre.profile.v1.RecordEventsBatchRequest.events", 10_000),
    ("maitre.profile.v1.ImportDishesRequest.dishes", 5_000),
    (
        "maitre.tagging.v1.AddCustomerTagsRequest.customer_ids",
        1_000,
    ),
    (
        "maitre.tagging.v1.RemoveCustomerTagsRequest.customer_ids",
        1_000,
    ),
    (
        "maitre.assignment.v1.StartBulkTransferRequest.to_manager_ids",
        1_000,
    ),
    (
        "maitre.profile.v1.UpdateBlockedIdentifiersRequest.add",
        1_000,
    ),
    (
        "maitre.profile.v1.UpdateBlockedIdentifiersRequest.remove",
        1_000,
    ),
    (
        "maitre.notification.v1.MarkInboxReadRequest.item_ids",
        1_000,
    ),
    // A guest's keys: phone, WeChat ids, platform ids, member cards.
    ("maitre.profile.v1.Customer.identity_keys", 20),
    ("maitre.profile.v1.UpsertCustomerRequest.identity_keys", 20),
    ("maitre.profile.v1.ContactEvent.identity_keys", 20),
    ("maitre.profile.v1.Profile.dietary_habits", 30),
    ("maitre.profile.v1.Profile.allergies", 30),
    ("maitre.profile.v1.Profile.anniversaries", 20),
    ("maitre.profile.v1.Profile.attributes", 50),
    ("maitre.notification.v1.Automation.actions", 10),
    ("maitre.notification.v1.Conditions.has_tags", 20),
    ("maitre.notification.v1.Conditions.lacks_tags", 20),
    ("maitre.tagging.v1.CompareGroupsRequest.groups", 20),
];

/// Characters a string field (or map key) of a request may hold: far above any name, note,
/// template or rule a service keeps (each refuses its own tighter limit, naming it), far below
/// what a 4 MiB request could otherwise put in one row.
pub const MAX_CHARS: usize = 10_000;

/// The earliest time a request may carry: 1970-01-01T00:00:00Z (Unix seconds).
pub const MIN_TIME_SECONDS: i64 = 0;
/// The first time a request may no longer carry: 2100-01-01T00:00:00Z (Unix seconds).
pub const END_TIME_SECONDS: i64 = 4_102_444_800;
/// RFC 3339 forms of the time window, for the contract.
pub const MIN_TIME: &str = "1970-01-01T00:00:00Z";
/// See [`END_TIME_SECONDS`].
pub const END_TIME: &str = "2100-01-01T00:00:00Z";

/// Years a `maitre.common.v1.Date` may name (0 is "unknown", as in a birthday without one).
pub const MIN_YEAR: i32 = 1900;
/// See [`MIN_YEAR`].
pub const MAX_YEAR: i32 = 2100;

/// The currencies money may be in (ISO 4217). A chain has one currency, CNY, and spend is
/// counted in its fen: an amount in any other currency would be counted as if it were CNY,
/// so it is refused until a chain can name another. Empty means the chain's currency.
pub const CURRENCIES: &[&str] = &["CNY"];

/// The item bound of a repeated or map field.
pub fn max_items(field: &FieldDescriptor) -> usize {
    MAX_ITEMS_BY_FIELD
        .iter()
        .find(|(name, _)| *name == field.full_name())
        .map_or(MAX_ITEMS, |(_, max)| *max)
}

/// A request field outside its bounds: its path and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Proto field path (`customer.profile.dietary_habits`, `events[3].occurred_at`).
    pub field: String,
    /// What the bound is.
    pub message: String,
}

/// The first field of `message` outside its bounds.
pub fn violation(message: &DynamicMessage) -> Option<Violation> {
    in_message(message)
}

// The walk allocates nothing until it finds a violation: each level returns the path below
// it, and the callers prefix their own part on the way back up.

fn in_message(message: &DynamicMessage) -> Option<Violation> {
    let own = match message.descriptor().full_name() {
        "google.protobuf.Timestamp" => time(message),
        "maitre.common.v1.Date" => date(message),
        "maitre.common.v1.Money" => money(message),
        _ => None,
    };
    if let Some((field, message)) = own {
        return Some(Violation {
            field: field.to_owned(),
            message,
        });
    }
    message.fields().find_map(|(field, value)| {
        if field.is_list() || field.is_map() {
            let count = match value {
                Value::List(items) => items.len(),
                Value::Map(entries) => entries.len(),
                _ => 0,
            };
            let max = max_items(&field);
            if count > max {
                return Some(Violation {
                    field: field.name().to_owned(),
                    message: format!("at most {max} items (got {count})"),
                });
            }
        }
        in_value(value).map(|below| below.under(field.name()))
    })
}

impl Violation {
    /// This violation seen from the parent: `name` then the path below it.
    fn under(mut self, name: impl std::fmt::Display) -> Violation {
        self.field = match self.field.as_str() {
            "" => name.to_string(),
            below if below.starts_with('[') => format!("{name}{below}"),
            below => format!("{name}.{below}"),
        };
        self
    }
}

fn too_long(text: &str) -> bool {
    text.len() > MAX_CHARS && text.chars().count() > MAX_CHARS
}

fn long_text(text: &str) -> Violation {
    Violation {
        field: String::new(),
        message: format!(
            "at most {MAX_CHARS} characters (got {})",
            text.chars().count()
        ),
    }
}

/// The violation in `value`, its path relative to the field holding it (`""`, `[3].name`).
fn in_value(value: &Value) -> Option<Violation> {
    match value {
        Value::String(text) if too_long(text) => Some(long_text(text)),
        Value::Message(message) => in_message(message),
        Value::List(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| in_value(item).map(|below| below.under(format_args!("[{i}]")))),
        Value::Map(entries) => entries.iter().find_map(|(key, item)| match key {
            MapKey::String(key) if too_long(key) => Some(long_text(key).under("[]")),
            MapKey::String(key) => in_value(item).map(|below| below.under(format_args!("[{key}]"))),
            _ => in_value(item).map(|below| below.under("[]")),
        }),
        _ => None,
    }
}

fn get_i64(message: &DynamicMessage, name: &str) -> i64 {
    match message.get_field_by_name(name).as_deref() {
        Some(Value::I64(v)) => *v,
        Some(Value::I32(v)) => i64::from(*v),
        _ => 0,
    }
}

type Found = Option<(&'static str, String)>;

fn time(message: &DynamicMessage) -> Found {
    let seconds = get_i64(message, "seconds");
    (!(MIN_TIME_SECONDS..END_TIME_SECONDS).contains(&seconds))
        .then(|| ("", format!("must be from {MIN_TIME} and before {END_TIME}")))
}

fn date(message: &DynamicMessage) -> Found {
    let year = get_i64(message, "year");
    if year != 0 && !(i64::from(MIN_YEAR)..=i64::from(MAX_YEAR)).contains(&year) {
        let text = format!("must be 0 (unknown) or {MIN_YEAR}..={MAX_YEAR}, not {year}");
        return Some(("year", text));
    }
    let month = get_i64(message, "month");
    if !(1..=12).contains(&month) {
        return Some(("month", format!("must be 1..=12, not {month}")));
    }
    let day = get_i64(message, "day");
    if !(1..=31).contains(&day) {
        return Some(("day", format!("must be 1..=31, not {day}")));
    }
    None
}

fn money(message: &DynamicMessage) -> Found {
    let currency = message.get_field_by_name("currency");
    let currency = currency.as_deref().and_then(Value::as_str).unwrap_or("");
    (!currency.is_empty() && !CURRENCIES.contains(&currency)).then(|| {
        (
            "currency",
            format!(
                "must be empty (the chain's currency) or one of {}",
                CURRENCIES.join(", ")
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use maitre_proto::common::v1::{Date, IdentityKey, Money};
    use maitre_proto::profile::v1::{
        ContactEvent, Profile, RecordEventRequest, RecordEventsBatchRequest, UpsertCustomerRequest,
    };
    use prost::Message;

    fn check<M: Message>(message: &M, name: &str) -> Option<Violation> {
        let descriptor = maitre_proto::descriptor_pool()
            .get_message_by_name(name)
            .unwrap();
        let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice());
        violation(&dynamic.unwrap())
    }

    fn event() -> ContactEvent {
        ContactEvent {
            external_id: "pos-1".into(),
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            amount: Some(Money {
                amount_fen: 100,
                currency: "CNY".into(),
            }),
            ..Default::default()
        }
    }

    fn record(event: ContactEvent) -> Option<Violation> {
        let request = RecordEventRequest { event: Some(event) };
        check(&request, "maitre.profile.v1.RecordEventRequest")
    }

    #[test]
    fn times_outside_the_window_are_refused_naming_the_field() {
        assert_eq!(record(event()), None);
        let mut early = event();
        early.occurred_at = Some(prost_types::Timestamp {
            seconds: -62_135_596_800, // 0001-01-01
            nanos: 0,
        });
        let found = record(early).unwrap();
        assert_eq!(found.field, "event.occurred_at");
        assert!(found.message.contains(MIN_TIME), "{found:?}");
        let mut late = event();
        late.occurred_at = Some(prost_types::Timestamp {
            seconds: END_TIME_SECONDS,
            nanos: 0,
        });
        assert_eq!(record(late).unwrap().field, "event.occurred_at");
    }

    #[test]
    fn money_is_in_the_chains_currency() {
        let mut event = event();
        event.amount.as_mut().unwrap().currency = "XXX'; --".into();
        assert_eq!(
            record(event.clone()).unwrap().field,
            "event.amount.currency"
        );
        event.amount.as_mut().unwrap().currency = String::new();
        assert_eq!(record(event), None);
    }

    fn upsert(profile: Profile, keys: usize) -> Option<Violation> {
        let key = IdentityKey {
            value: "+8613800138000".into(),
            ..Default::default()
        };
        let request = UpsertCustomerRequest {
            identity_keys: vec![key; keys],
            profile: Some(profile),
            ..Default::default()
        };
        check(&request, "maitre.profile.v1.UpsertCustomerRequest")
    }

    #[test]
    fn repeated_fields_are_bounded() {
        assert_eq!(upsert(Profile::default(), 20), None);
        assert_eq!(
            upsert(Profile::default(), 21).unwrap().field,
            "identity_keys"
        );
        let habits = Profile {
            dietary_habits: vec!["少辣".into(); 100_000],
            ..Default::default()
        };
        let found = upsert(habits, 1).unwrap();
        assert_eq!(found.field, "profile.dietary_habits");
        assert_eq!(found.message, "at most 30 items (got 100000)");
        // A batch carries up to its own bound, every event still checked.
        let mut batch = RecordEventsBatchRequest {
            events: vec![event(); 200],
        };
        let name = "maitre.profile.v1.RecordEventsBatchRequest";
        assert_eq!(check(&batch, name), None);
        batch.events[150].amount.as_mut().unwrap().currency = "USD".into();
        assert_eq!(
            check(&batch, name).unwrap().field,
            "events[150].amount.currency"
        );
    }

    #[test]
    fn texts_are_bounded() {
        let name = |chars: usize| Profile {
            name: "長".repeat(chars),
            ..Default::default()
        };
        assert_eq!(upsert(name(MAX_CHARS), 1), None);
        let found = upsert(name(MAX_CHARS + 1), 1).unwrap();
        assert_eq!(found.field, "profile.name");
        assert_eq!(found.message, "at most 10000 characters (got 10001)");
    }

    #[test]
    fn dates_are_bounded() {
        let birthday = |year, month, day| Profile {
            birthday: Some(Date { year, month, day }),
            ..Default::default()
        };
        assert_eq!(upsert(birthday(0, 2, 29), 1), None);
        assert_eq!(upsert(birthday(1988, 12, 31), 1), None);
        let found = upsert(birthday(2999, 1, 1), 1).unwrap();
        assert_eq!(found.field, "profile.birthday.year");
        assert_eq!(
            upsert(birthday(1988, 13, 1), 1).unwrap().field,
            "profile.birthday.month"
        );
    }
}
