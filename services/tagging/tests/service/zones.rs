//! Store-local "today": a chain with a store in America/New_York. At 02:00 UTC it is
//! already the 10th in Shanghai but still the 9th in New York, so `days_since_last_visit`
//! and `birthday_within` differ by home store, live and in the daily run, which runs again
//! when New York's day begins.

use std::collections::BTreeSet;

use chrono::{Duration, TimeZone, Utc};
use maitre_kit::{
    config::ServiceName,
    runtime::Runtime,
    testing::{Backend, TestConfig},
};
use maitre_proto::{
    common::v1::Date,
    events::v1::{
        ContactKind, ContactRecorded, CustomerCreated, CustomerUpdated, Event, StoreChanged,
        event::Payload,
    },
};
use maitre_tagging::{
    app::recompute::recompute_time_dependent,
    events::apply_profile_event,
    state::Deps,
    storage::{
        Migrator,
        catalog::{LIFECYCLE_ACTIVE, SOURCE_RULE, TagRow, insert_tag},
        membership::memberships_of,
    },
};

use maitre_kit::on_both_backends;

fn rule_tag(chain: &str, id: &str, rule: &str) -> TagRow {
    TagRow {
        chain_id: chain.into(),
        tag_id: id.into(),
        name: id.into(),
        display_name: id.into(),
        category: 2,
        source: SOURCE_RULE,
        lifecycle: LIFECYCLE_ACTIVE,
        description: String::new(),
        owner: String::new(),
        rule: rule.into(),
        rule_version: 1,
        rule_refs: Vec::new(),
        time_dependent: true,
        model: String::new(),
        created_at_us: 0,
        updated_at_us: 0,
    }
}

fn customer_events(customer: &str, store: &str) -> Vec<Payload> {
    vec![
        Payload::CustomerCreated(CustomerCreated {
            customer_id: customer.into(),
            home_store_id: store.into(),
        }),
        Payload::CustomerUpdated(CustomerUpdated {
            customer_id: customer.into(),
            birthday: Some(Date {
                year: 0,
                month: 3,
                day: 10,
            }),
            ..Default::default()
        }),
        Payload::ContactRecorded(ContactRecorded {
            event_id: format!("visit-{customer}"),
            customer_id: customer.into(),
            kind: ContactKind::Visit as i32,
            amount_fen: 6_000,
            store_id: store.into(),
            local_date: "2026-03-06".into(),
            ..Default::default()
        }),
    ]
}

async fn tags_of(runtime: &Runtime, chain: &str, customer: &str) -> BTreeSet<String> {
    memberships_of(&runtime.db, chain, customer)
        .await
        .expect("memberships")
        .into_iter()
        .map(|m| m.tag_id)
        .collect()
}

async fn store_local_today(backend: Backend) {
    let config = TestConfig::new(ServiceName::Tagging, backend, &[]);
    let runtime = Runtime::start::<Migrator>(config.config.clone())
        .await
        .expect("runtime");
    let deps = Deps::new(runtime.clone());
    let chain = "chain-ny";
    for tag in [
        rule_tag(chain, "lapsed_4d", "days_since_last_visit >= 4"),
        rule_tag(chain, "birthday_today", "birthday_within(0d)"),
    ] {
        insert_tag(&runtime.db, &tag).await.expect("tag");
    }
    // 2026-03-10 02:00 UTC: 10:00 on the 10th in Shanghai, 22:00 on the 9th in New York (EDT).
    let now = Utc
        .with_ymd_and_hms(2026, 3, 10, 2, 0, 0)
        .single()
        .expect("instant");
    let mut payloads = vec![
        Payload::StoreChanged(StoreChanged {
            store_id: "ny-1".into(),
            time_zone: "America/New_York".into(),
            name: "Manhattan".into(),
        }),
        Payload::StoreChanged(StoreChanged {
            store_id: "sh-1".into(),
            time_zone: "Asia/Shanghai".into(),
            name: "静安".into(),
        }),
    ];
    payloads.extend(customer_events("ny", "ny-1"));
    payloads.extend(customer_events("sh", "sh-1"));
    for (sequence, payload) in payloads.into_iter().enumerate() {
        let event = Event {
            sequence: sequence as u64 + 1,
            chain_id: chain.into(),
            payload: Some(payload),
            ..Default::default()
        };
        apply_profile_event(&runtime.db, &deps, &event, now)
            .await
            .expect("apply");
    }
    let both = BTreeSet::from(["birthday_today".to_owned(), "lapsed_4d".to_owned()]);
    assert_eq!(
        tags_of(&runtime, chain, "sh").await,
        both,
        "the 10th in Shanghai"
    );
    assert!(
        tags_of(&runtime, chain, "ny").await.is_empty(),
        "still the 9th in New York: 3 days since the visit, birthday tomorrow"
    );

    // The daily run agrees with the live path, once per local day of each zone.
    let first = recompute_time_dependent(&deps, chain, now)
        .await
        .expect("first run")
        .expect("ran");
    assert_eq!((first.customers, first.changes), (2, 0));
    assert!(
        recompute_time_dependent(&deps, chain, now + Duration::hours(1))
            .await
            .expect("same day")
            .is_none(),
        "no zone has a new day yet"
    );
    // 06:00 UTC: New York's 10th has begun (Shanghai is still on the 10th).
    let new_york_midnight = recompute_time_dependent(&deps, chain, now + Duration::hours(4))
        .await
        .expect("new york run")
        .expect("ran for New York's new day");
    assert_eq!(new_york_midnight.changes, 2);
    assert_eq!(tags_of(&runtime, chain, "ny").await, both);
}

on_both_backends!(store_local_today);

/// Live scoring counts days in the guest's store's zone: at 12:00 UTC it is already the 11th
/// in Kiritimati (UTC+14) but still the 10th in Shanghai. A visit dated the 11th there is
/// today's visit, scored at once, not a future one ignored until Shanghai's day catches up.
async fn scores_count_the_stores_day(backend: Backend) {
    use maitre_tagging::{
        domain::model::BgNbdParams,
        storage::{
            begin_write,
            models::{ModelRow, save_model},
            predictions::find_prediction,
        },
    };
    let config = TestConfig::new(ServiceName::Tagging, backend, &[]);
    let runtime = Runtime::start::<Migrator>(config.config.clone())
        .await
        .expect("runtime");
    let deps = Deps::new(runtime.clone());
    let chain = "chain-kiritimati";
    let txn = begin_write(&runtime.db).await.expect("txn");
    let model = ModelRow {
        visits: Some(BgNbdParams {
            r: 0.5,
            alpha: 10.0,
            a: 0.7,
            b: 2.5,
        }),
        converged: true,
        ..ModelRow::default()
    };
    save_model(&txn, chain, &model).await.expect("model");
    txn.commit().await.expect("commit");
    let now = Utc
        .with_ymd_and_hms(2026, 3, 10, 12, 0, 0)
        .single()
        .expect("instant");
    let payloads = vec![
        Payload::StoreChanged(StoreChanged {
            store_id: "kt-1".into(),
            time_zone: "Pacific/Kiritimati".into(),
            name: "Line Islands".into(),
        }),
        Payload::CustomerCreated(CustomerCreated {
            customer_id: "kt".into(),
            home_store_id: "kt-1".into(),
        }),
        Payload::ContactRecorded(ContactRecorded {
            event_id: "visit-kt".into(),
            customer_id: "kt".into(),
            kind: ContactKind::Visit as i32,
            amount_fen: 6_000,
            store_id: "kt-1".into(),
            local_date: "2026-03-11".into(),
            ..Default::default()
        }),
    ];
    for (sequence, payload) in payloads.into_iter().enumerate() {
        let event = Event {
            sequence: sequence as u64 + 1,
            chain_id: chain.into(),
            payload: Some(payload),
            ..Default::default()
        };
        apply_profile_event(&runtime.db, &deps, &event, now)
            .await
            .expect("apply");
    }
    let prediction = find_prediction(&runtime.db, chain, "kt")
        .await
        .expect("read")
        .expect("the visit of the store's today is scored at once");
    assert_eq!(prediction.visit_days, 1);
}

on_both_backends!(scores_count_the_stores_day);
