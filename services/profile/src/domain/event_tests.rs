use chrono::{Duration, TimeZone};

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
}

fn stores() -> HashSet<StoreId> {
    HashSet::from([StoreId::new("sh-01")])
}

fn visit_event(visit: Visit) -> CustomerEvent {
    CustomerEvent {
        channel: Channel::Pos,
        channel_event_id: "pos-77".into(),
        store_id: StoreId::new("sh-01"),
        occurred_at: now() - Duration::hours(1),
        identity: RawIdentity {
            phone: Some("13800138000".into()),
            ..RawIdentity::default()
        },
        notes: None,
        body: EventBody::Visit(visit),
    }
}

fn good_visit() -> Visit {
    Visit {
        amount_fen: 58_800,
        party_size: Some(4),
        dishes: vec![OrderLine {
            dish_id: Some("d-1".into()),
            dish_name: "清蒸石斑".into(),
            category: "seafood".into(),
            quantity: 1,
        }],
        manager_id: Some(StaffId::new("wang")),
    }
}

fn check(event: CustomerEvent) -> Result<ValidatedEvent, FieldErrors> {
    let stores = stores();
    let limits = EventLimits::default();
    validate_event(
        event,
        ValidationContext {
            known_stores: &stores,
            now: now(),
            limits: &limits,
        },
    )
}

fn fields(event: CustomerEvent) -> Vec<String> {
    check(event)
        .unwrap_err()
        .fields()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_good_visit_passes_and_yields_facts() {
    let validated = check(visit_event(good_visit())).unwrap();
    assert_eq!(validated.identity.keys.len(), 1);
    let facts = validated.visit_facts(chrono_tz::Asia::Shanghai).unwrap();
    assert_eq!(facts.amount_fen, 58_800);
    assert_eq!(facts.dishes[0].dish_key, "d-1");
    assert_eq!(facts.store_id, StoreId::new("sh-01"));
}

#[test]
fn dish_without_id_is_keyed_by_name() {
    let mut visit = good_visit();
    visit.dishes[0].dish_id = None;
    let facts = check(visit_event(visit))
        .unwrap()
        .visit_facts(chrono_tz::Asia::Shanghai)
        .unwrap();
    assert_eq!(facts.dishes[0].dish_key, "清蒸石斑");
}

#[test]
fn every_broken_rule_is_reported_by_field() {
    let mut event = visit_event(Visit {
        amount_fen: -1,
        party_size: Some(0),
        dishes: vec![OrderLine {
            dish_id: None,
            dish_name: " ".into(),
            category: String::new(),
            quantity: 0,
        }],
        manager_id: None,
    });
    event.store_id = StoreId::new("bj-99");
    event.occurred_at = now() + Duration::minutes(11);
    event.notes = Some("备".repeat(2_001));
    event.identity = RawIdentity::default();
    event.channel_event_id = String::new();
    assert_eq!(
        fields(event),
        [
            "channel_event_id",
            "store_id",
            "occurred_at",
            "notes",
            "identity",
            "visit.amount_fen",
            "visit.party_size",
            "visit.dishes[0].dish_name",
            "visit.dishes[0].category",
            "visit.dishes[0].quantity",
        ]
    );
}

#[test]
fn amount_over_the_bound_is_rejected() {
    let mut visit = good_visit();
    visit.amount_fen = 10_000_001;
    assert_eq!(fields(visit_event(visit)), ["visit.amount_fen"]);
    let mut at_bound = good_visit();
    at_bound.amount_fen = 10_000_000;
    assert!(check(visit_event(at_bound)).is_ok());
}

#[test]
fn future_tolerance_is_ten_minutes() {
    let mut event = visit_event(good_visit());
    event.occurred_at = now() + Duration::minutes(10);
    assert!(check(event.clone()).is_ok());
    event.occurred_at = now() + Duration::minutes(10) + Duration::milliseconds(1);
    assert_eq!(fields(event), ["occurred_at"]);
}

#[test]
fn masked_phone_alone_is_an_empty_identity() {
    let mut event = visit_event(good_visit());
    event.channel = Channel::DeliveryPlatform;
    event.identity = RawIdentity {
        phone: Some("138****8000".into()),
        ..RawIdentity::default()
    };
    assert_eq!(fields(event.clone()), ["identity"]);
    event.identity.platform = Some("meituan".into());
    event.identity.platform_user_id = Some("123".into());
    let validated = check(event).unwrap();
    assert!(validated.identity.masked_phone_hint.is_some());
}

#[test]
fn bookings_may_be_for_the_future_but_not_oversized() {
    let mut event = visit_event(good_visit());
    event.body = EventBody::Booking(Booking {
        reserved_for: now() + Duration::days(30),
        party_size: 501,
        manager_id: Some(StaffId::new("li")),
    });
    assert_eq!(fields(event.clone()), ["booking.party_size"]);
    event.body = EventBody::Booking(Booking {
        reserved_for: now() + Duration::days(30),
        party_size: 500,
        manager_id: None,
    });
    let validated = check(event).unwrap();
    assert!(validated.visit_facts(chrono_tz::Asia::Shanghai).is_none());
}

#[test]
fn a_booking_without_a_party_size_says_it_is_required() {
    let mut event = visit_event(good_visit());
    event.body = EventBody::Booking(Booking {
        reserved_for: now() + Duration::days(1),
        party_size: 0,
        manager_id: None,
    });
    let errors = check(event).unwrap_err();
    let message = errors.to_string();
    assert!(
        message.contains("booking.party_size: is required"),
        "{message}"
    );
    assert!(!message.contains("0 is outside"), "{message}");
}

#[test]
fn review_rating_is_one_to_five() {
    let mut event = visit_event(good_visit());
    for (rating, ok) in [(0, false), (1, true), (5, true), (6, false)] {
        event.body = EventBody::Review(Review {
            rating,
            text: "好吃".into(),
        });
        assert_eq!(check(event.clone()).is_ok(), ok, "rating {rating}");
    }
    event.body = EventBody::Review(Review {
        rating: 3,
        text: "长".repeat(2_001),
    });
    assert_eq!(fields(event), ["review.text"]);
}

#[test]
fn campaign_response_needs_a_campaign() {
    let mut event = visit_event(good_visit());
    event.channel = Channel::MiniProgram;
    event.body = EventBody::CampaignResponse(CampaignResponse {
        campaign_id: " ".into(),
        response: CampaignResponseKind::Redeemed,
    });
    assert_eq!(fields(event), ["campaign_response.campaign_id"]);
}
