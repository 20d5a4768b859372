//! Store time zones against real storage (both backends): profile's `StoreChanged`, `CustomerCreated`
//! and `ContactRecorded` give each customer a home store zone; quiet hours and the daily scan's
//! "today" are judged in it (Asia/Shanghai when unknown).

mod common;

use chrono::{NaiveDate, TimeZone, Utc};
use chrono_tz::{America::New_York, Asia::Shanghai};
use common::*;
use maitre_kit::eventlog::EventHandler;
use maitre_kit::on_both_backends;
use maitre_kit::testing::Backend;
use maitre_notification::app::daily_scan::DailyScan;
use maitre_notification::app::delivery::dispatcher::Dispatcher;
use maitre_notification::domain::channel::MessagePurpose;
use maitre_notification::events::consumers::AutomationHandler;
use maitre_notification::providers::Providers;
use maitre_notification::storage::facts::{self, CustomerFacts};
use maitre_notification::storage::stores;
use maitre_proto::events::v1::{
    ContactRecorded, CustomerCreated, Event, StoreChanged, event::Payload,
};
use maitre_proto::notification::v1 as pb;
use sea_orm::{DatabaseConnection, TransactionTrait};

async fn feed(env: &Env, sequence: u64, payload: Payload) {
    let handler = AutomationHandler::new(env.pipeline.clone());
    let event = Event {
        sequence,
        chain_id: CHAIN.into(),
        payload: Some(payload),
        ..Event::default()
    };
    let txn = env.db.db.begin().await.expect("txn");
    handler.handle(&txn, &event).await.expect("handled");
    txn.commit().await.expect("commit");
}

/// Store `ny` in New York, `sh` in Shanghai; `g-ny` lives at `ny`, `g-sh` has no store.
async fn stores_and_customers(env: &Env) {
    feed(
        env,
        1,
        Payload::StoreChanged(StoreChanged {
            store_id: "ny".into(),
            time_zone: "America/New_York".into(),
            name: "Manhattan".into(),
        }),
    )
    .await;
    feed(
        env,
        2,
        Payload::StoreChanged(StoreChanged {
            store_id: "sh".into(),
            time_zone: "Asia/Shanghai".into(),
            name: "静安".into(),
        }),
    )
    .await;
    feed(
        env,
        3,
        Payload::CustomerCreated(CustomerCreated {
            customer_id: "g-ny".into(),
            home_store_id: "ny".into(),
        }),
    )
    .await;
    feed(
        env,
        4,
        Payload::CustomerCreated(CustomerCreated {
            customer_id: "g-sh".into(),
            home_store_id: String::new(),
        }),
    )
    .await;
}

async fn zone_of(db: &DatabaseConnection, customer: &str) -> chrono_tz::Tz {
    stores::customer_zone(db, CHAIN, customer)
        .await
        .expect("zone")
}

async fn home_store_zones_come_from_profile_events(backend: Backend) {
    let env = env(backend).await;
    let db = &env.db.db;
    stores_and_customers(&env).await;
    assert_eq!(zone_of(db, "g-ny").await, New_York);
    assert_eq!(
        zone_of(db, "g-sh").await,
        Shanghai,
        "no store: default zone"
    );
    // A customer created without a store gets the store of the first contact; later contacts
    // elsewhere do not move it.
    for (sequence, store) in [(5, "ny"), (6, "sh")] {
        feed(
            &env,
            sequence,
            Payload::ContactRecorded(ContactRecorded {
                customer_id: "g-sh".into(),
                store_id: store.into(),
                ..Default::default()
            }),
        )
        .await;
    }
    assert_eq!(zone_of(db, "g-sh").await, New_York);
    // An unknown zone name is not stored; the store keeps its zone.
    feed(
        &env,
        7,
        Payload::StoreChanged(StoreChanged {
            store_id: "ny".into(),
            time_zone: "Mars/Olympus".into(),
            name: String::new(),
        }),
    )
    .await;
    assert_eq!(zone_of(db, "g-ny").await, New_York);
    assert_eq!(zone_of(db, "stranger").await, Shanghai);
}

on_both_backends!(home_store_zones_come_from_profile_events);

async fn quiet_hours_in_the_home_store_zone(backend: Backend) {
    let env = env(backend).await;
    let db = &env.db.db;
    stores_and_customers(&env).await;
    sms_template(db, "t1", MessagePurpose::Service).await;
    set_policy(
        db,
        pb::ChainPolicy {
            quiet_hours: Some(pb::QuietHours {
                start_minute: 21 * 60,
                end_minute: 9 * 60,
            }),
            ..Default::default()
        },
    )
    .await;
    for customer in ["g-ny", "g-sh"] {
        let mut m = message(
            customer,
            &format!("k:{customer}"),
            "t1",
            MessagePurpose::Service,
        );
        m.next_attempt_at_us = 0;
        assert!(
            maitre_notification::app::delivery::enqueue(db, CHAIN, &m, 0)
                .await
                .expect("enqueue")
        );
    }
    // 23:00 in New York on 2026-11-25 (EST, UTC−5) is 12:00 the next day in Shanghai.
    let due = New_York
        .with_ymd_and_hms(2026, 11, 25, 23, 0, 0)
        .single()
        .expect("a New York time")
        .with_timezone(&Utc);
    let dispatcher = Dispatcher::new(env.pipeline.clone(), Providers::default(), config());
    dispatcher.run_once(due).await.expect("round");
    let ny = status_of(db, "k:g-ny").await;
    assert_eq!(
        (ny.status.as_str(), ny.reason.as_str()),
        ("queued", "quiet_hours")
    );
    let end_of_quiet = New_York
        .with_ymd_and_hms(2026, 11, 26, 9, 0, 0)
        .single()
        .expect("a New York time");
    assert_eq!(
        ny.next_attempt_at_us,
        end_of_quiet.timestamp_micros(),
        "deferred to 09:00 New York time"
    );
    let sh = status_of(db, "k:g-sh").await;
    assert_eq!(sh.status, "sent", "noon in Shanghai is not quiet");
    // At the end of the quiet hours the deferred message goes out.
    dispatcher
        .run_once(end_of_quiet.with_timezone(&Utc))
        .await
        .expect("round");
    assert_eq!(status_of(db, "k:g-ny").await.status, "sent");
}

on_both_backends!(quiet_hours_in_the_home_store_zone);

async fn birthday_today_is_store_local(backend: Backend) {
    let env = env(backend).await;
    let db = &env.db.db;
    stores_and_customers(&env).await;
    sms_template(db, "birthday.sms", MessagePurpose::Service).await;
    enabled_automation(
        db,
        "birthday",
        birthday_trigger(0),
        vec![action(pb::ActionKind::MessageCustomer, "birthday.sms")],
    )
    .await;
    for customer in ["g-ny", "g-sh"] {
        facts::put(
            db,
            CHAIN,
            &CustomerFacts {
                customer_id: customer.into(),
                birthday: "1990-12-24".into(),
                ..Default::default()
            },
        )
        .await
        .expect("facts");
    }
    // 2026-12-25 03:00 UTC: still the 24th in New York, already the 25th in Shanghai.
    let now = Utc
        .with_ymd_and_hms(2026, 12, 25, 3, 0, 0)
        .single()
        .expect("time");
    assert_eq!(
        now.with_timezone(&New_York).date_naive(),
        NaiveDate::from_ymd_opt(2026, 12, 24).expect("date")
    );
    let scan = DailyScan::new(
        env.pipeline.clone(),
        "replica-1",
        std::time::Duration::from_secs(60),
    );
    assert_eq!(scan.run_once(now).await.expect("scan"), 1);
    let greeted = |customer: &'static str| async move { messages_of(db, customer).await.len() };
    assert_eq!(greeted("g-ny").await, 1, "their birthday in New York");
    assert_eq!(
        greeted("g-sh").await,
        0,
        "already the day after in Shanghai"
    );
}

on_both_backends!(birthday_today_is_store_local);
