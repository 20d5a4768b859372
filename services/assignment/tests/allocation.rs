//! Strategies for customers nobody booked with, on both backends: daily even split (within
//! one, also when a manager joins mid-day), daily rotation, and the unassigned pool that
//! empties when capacity returns.

mod common;

use maitre_kit::on_both_backends;
use std::collections::BTreeMap;

use common::*;
use maitre_kit::testing::Backend;
use maitre_proto::assignment::v1 as pb;

async fn online_booking(h: &Harness, customer: &str, seconds: i64) -> pb::Ownership {
    let mut api = h.api();
    let event = format!("online-{customer}");
    contact(
        &mut api,
        Contact {
            customer,
            via: "",
            amount_fen: 0,
            at: at(seconds),
            event: &event,
        },
    )
    .await
    .ownership
    .expect("ownership")
}

fn spread(counts: &BTreeMap<String, u32>) -> u32 {
    counts.values().max().copied().unwrap_or(0) - counts.values().min().copied().unwrap_or(0)
}

async fn even_split(backend: Backend) {
    let h = Harness::start(backend, 1).await;
    let mut api = h.api();
    for id in ["m1", "m2", "m3", "m4"] {
        add_manager(&mut api, id, &[STORE], 0).await;
    }
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    let first: Vec<_> = (0..20)
        .map(|i| {
            let h = &h;
            async move { online_booking(h, &format!("a{i:02}"), i).await }
        })
        .collect();
    for owned in futures::future::join_all(first).await {
        assert_eq!(
            pb::Reason::try_from(owned.reason),
            Ok(pb::Reason::DailyEvenSplit)
        );
        *counts.entry(owned.manager_id).or_default() += 1;
    }
    assert_eq!(counts.len(), 4);
    assert!(spread(&counts) <= 1, "{counts:?}");
    // A manager joining mid-day starts from 0 and catches up; nobody else's count moves.
    add_manager(&mut api, "m5", &[STORE], 0).await;
    counts.insert("m5".into(), 0);
    for i in 20..42 {
        let owned = online_booking(&h, &format!("b{i:02}"), i).await;
        *counts.entry(owned.manager_id).or_default() += 1;
    }
    assert_eq!(counts.values().sum::<u32>(), 42);
    assert!(spread(&counts) <= 1, "{counts:?}");
    for (id, count) in &counts {
        assert_eq!(manager(&mut api, id).await.owned_count, i64::from(*count));
    }
}

on_both_backends!(even_split);

async fn rotation(backend: Backend) {
    let h = Harness::start(backend, 1).await;
    let mut api = h.api();
    for id in ["r1", "r2", "r3"] {
        add_manager(&mut api, id, &[STORE], 0).await;
    }
    set_policy(
        &mut api,
        pb::Policy {
            strategy: pb::Strategy::DailyRotation as i32,
            ..Default::default()
        },
        &["strategy"],
    )
    .await;
    let mut duty_per_day = Vec::new();
    for day in 0..3_i64 {
        let mut owners = Vec::new();
        for i in 0..4 {
            let owned = online_booking(&h, &format!("d{day}c{i}"), day * 86_400 + i).await;
            assert_eq!(
                pb::Reason::try_from(owned.reason),
                Ok(pb::Reason::DailyRotation)
            );
            owners.push(owned.manager_id);
        }
        owners.dedup();
        assert_eq!(owners.len(), 1, "one duty manager a day: {owners:?}");
        duty_per_day.push(owners.remove(0));
    }
    let mut distinct = duty_per_day.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        3,
        "three days rotate through three managers: {duty_per_day:?}"
    );
}

on_both_backends!(rotation);

async fn unassigned_pool(backend: Backend) {
    let h = Harness::start(backend, 1).await;
    let mut api = h.api();
    add_manager(&mut api, "p1", &[STORE], 1).await;
    add_manager(&mut api, "p2", &[STORE], 1).await;
    let mut owners = Vec::new();
    for (i, customer) in ["u1", "u2", "u3"].into_iter().enumerate() {
        owners.push(online_booking(&h, customer, i as i64).await);
    }
    let waiting: Vec<_> = owners.iter().filter(|o| o.manager_id.is_empty()).collect();
    assert_eq!(waiting.len(), 1, "{owners:?}");
    assert_eq!(
        pb::Reason::try_from(waiting[0].reason),
        Ok(pb::Reason::Unassigned)
    );
    let pool = api
        .list_unassigned(req(pb::ListUnassignedRequest {
            store_id: STORE.into(),
            ..Default::default()
        }))
        .await
        .expect("pool")
        .into_inner();
    assert_eq!(pool.ownerships.len(), 1);
    let waiting_id = pool.ownerships[0].customer_id.clone();
    // Capacity returns: the waiting customer is allocated and the pool is empty.
    add_manager(&mut api, "p1", &[STORE], 2).await;
    let now = ownership(&mut api, &waiting_id).await;
    assert_eq!(now.manager_id, "p1");
    let pool = api
        .list_unassigned(req(pb::ListUnassignedRequest {
            store_id: STORE.into(),
            ..Default::default()
        }))
        .await
        .expect("pool")
        .into_inner();
    assert!(pool.ownerships.is_empty());
    let why: Vec<pb::Reason> = history(&mut api, &waiting_id)
        .await
        .iter()
        .map(reason)
        .collect();
    assert_eq!(why, [pb::Reason::Unassigned, pb::Reason::DailyEvenSplit]);
    assert_eq!(manager(&mut api, "p1").await.owned_count, 2);
    // Everyone off duty: new customers wait too, nothing fails.
    for id in ["p1", "p2"] {
        api.set_manager_status(req(pb::SetManagerStatusRequest {
            manager_id: id.into(),
            status: pb::ManagerStatus::OffDuty as i32,
            request_id: format!("off-{id}"),
        }))
        .await
        .expect("off duty");
    }
    assert!(online_booking(&h, "u4", 10).await.manager_id.is_empty());
}

on_both_backends!(unassigned_pool);

/// 按月均分 with a daily cap: a manager back from leave catches up over days, not all at once.
async fn monthly_catch_up_is_capped(backend: Backend) {
    let h = Harness::start(backend, 1).await;
    let mut api = h.api();
    add_manager(&mut api, "x1", &[STORE], 0).await;
    add_manager(&mut api, "x2", &[STORE], 0).await;
    set_policy(
        &mut api,
        pb::Policy {
            strategy: pb::Strategy::MonthlyEvenSplit as i32,
            monthly_daily_cap: 2,
            ..Default::default()
        },
        &["strategy", "monthly_daily_cap"],
    )
    .await;
    // x2 on leave for day 0: x1 takes everyone (the overflow beyond the cap still goes to
    // whoever is there — the cap spreads catch-up, it never refuses a customer).
    api.set_manager_status(req(pb::SetManagerStatusRequest {
        manager_id: "x2".into(),
        status: pb::ManagerStatus::OffDuty as i32,
        request_id: String::new(),
    }))
    .await
    .expect("off duty");
    for i in 0..6 {
        assert_eq!(
            online_booking(&h, &format!("m0-{i}"), i).await.manager_id,
            "x1"
        );
    }
    // Back on day 1: x2 has the fewest this month but receives at most 2 before the rest
    // is shared by today's counts.
    api.set_manager_status(req(pb::SetManagerStatusRequest {
        manager_id: "x2".into(),
        status: pb::ManagerStatus::OnDuty as i32,
        request_id: String::new(),
    }))
    .await
    .expect("on duty");
    let mut day1: BTreeMap<String, u32> = BTreeMap::new();
    for i in 0..6 {
        let owned = online_booking(&h, &format!("m1-{i}"), 86_400 + i).await;
        assert_eq!(
            pb::Reason::try_from(owned.reason),
            Ok(pb::Reason::MonthlyEvenSplit)
        );
        *day1.entry(owned.manager_id).or_default() += 1;
    }
    assert_eq!(day1.get("x2").copied(), Some(3), "{day1:?}");
    assert_eq!(day1.get("x1").copied(), Some(3), "{day1:?}");
    // The first two of day 1 went to x2 (fewest this month), not alternately.
    let first_two: Vec<String> = {
        let mut owners = Vec::new();
        for i in 0..2 {
            owners.push(ownership(&mut api, &format!("m1-{i}")).await.manager_id);
        }
        owners
    };
    assert_eq!(first_two, ["x2", "x2"]);
}

on_both_backends!(monthly_catch_up_is_capped);
