//! A visit is a store-local day with orders (the contract's `Aggregates.visits`): three
//! orders, two on one day in the store's own zone, are two visits, for the guest and for
//! the store, whatever day those orders fall on in Shanghai or UTC.

mod common;

use chrono::{Duration, NaiveTime, TimeZone, Utc};
use common::*;
use maitre_kit::{on_both_backends, testing::Backend};
use maitre_proto::profile::v1 as pb;

on_both_backends!(orders_on_one_store_local_day_count_once);

const LA_STORE: &str = "la-01";

async fn orders_on_one_store_local_day_count_once(backend: Backend) {
    let h = Harness::start(backend).await;
    h.api()
        .create_store(req(
            pb::CreateStoreRequest {
                store: Some(pb::Store {
                    store_id: LA_STORE.into(),
                    name: "Los Angeles".into(),
                    time_zone: "America/Los_Angeles".into(),
                    ..pb::Store::default()
                }),
                request_id: String::new(),
            },
            &hq(),
        ))
        .await
        .expect("create store");
    // 07:00 and 10:00 of one Los Angeles day (22:00/23:00 and 01:00/02:00 of two days in
    // Shanghai), then noon the next Los Angeles day.
    let zone = chrono_tz::America::Los_Angeles;
    let day = Utc::now().with_timezone(&zone).date_naive() - Duration::days(3);
    let at = |date: chrono::NaiveDate, hour: u32| {
        zone.from_local_datetime(&date.and_time(NaiveTime::from_hms_opt(hour, 0, 0).unwrap()))
            .single()
            .expect("an unambiguous local time")
            .with_timezone(&Utc)
    };
    let orders = [
        ("la-1", at(day, 7), 10_000),
        ("la-2", at(day, 10), 5_000),
        ("la-3", at(day + Duration::days(1), 12), 6_000),
    ];
    for (external_id, occurred_at, amount_fen) in orders {
        let mut event = visit(external_id, vec![phone("13800137000")], amount_fen);
        event.store_id = LA_STORE.into();
        event.lines[0].amount_fen = amount_fen;
        event.occurred_at = Some(prost_types::Timestamp {
            seconds: occurred_at.timestamp(),
            nanos: 0,
        });
        h.record(event).await.expect("recorded");
    }
    let aggregates = h
        .lookup_phone("13800137000")
        .await
        .aggregates
        .expect("aggregates");
    assert_eq!(
        (aggregates.visits, aggregates.spend_fen),
        (2, 21_000),
        "two store-local days with orders are two visits"
    );
    assert_eq!(aggregates.average_ticket_fen, 10_500);
    let store = aggregates
        .stores
        .iter()
        .find(|s| s.store_id == LA_STORE)
        .expect("the store's figures");
    assert_eq!(store.visits, 2);
}
