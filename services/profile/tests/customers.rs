//! Stores, identity, events, merges, erasure, scope and masking through the real service,
//! on both backends.

mod common;

use common::*;
use maitre_kit::testing::Backend;
use maitre_proto::{
    common::v1::{EventChannel, IdentityKind},
    events::v1::event::Payload,
    profile::v1::{self as pb},
};
use tonic::Code;

use maitre_kit::on_both_backends;

on_both_backends!(
    stores_default_their_zone_and_are_scoped,
    bad_input_is_refused_by_field_and_writes_nothing,
    a_replayed_event_changes_nothing,
    concurrent_first_events_create_one_customer,
    concurrent_copies_of_one_event_record_it_once,
    concurrent_calls_are_recorded_together_and_refused_alone,
    linking_keys_merges_and_moves_history,
    erasure_clears_keys_and_profile_but_keeps_aggregates,
    another_chain_sees_not_found,
    front_desk_sees_phones_masked,
    a_failed_transaction_emits_nothing,
);

async fn stores_default_their_zone_and_are_scoped(backend: Backend) {
    let h = Harness::start(backend).await;
    let store = h
        .api()
        .get_store(req(
            pb::GetStoreRequest {
                store_id: STORE.into(),
            },
            &hq(),
        ))
        .await
        .unwrap()
        .into_inner()
        .store
        .unwrap();
    assert_eq!(store.time_zone, "Asia/Shanghai");
    let bad_zone = h
        .api()
        .create_store(req(
            pb::CreateStoreRequest {
                store: Some(pb::Store {
                    name: "x".into(),
                    time_zone: "Mars/Olympus".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &hq(),
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_zone.code(), Code::InvalidArgument);
    assert_eq!(field(&bad_zone), "store.time_zone");
    let denied = h
        .api()
        .create_store(req(
            pb::CreateStoreRequest {
                store: Some(pb::Store {
                    name: "x".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &front_desk(),
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    h.create_store("bj-02").await;
    let mine = h
        .api()
        .list_stores(req(pb::ListStoresRequest::default(), &front_desk()))
        .await
        .unwrap()
        .into_inner()
        .stores;
    assert_eq!(
        mine.iter().map(|s| s.store_id.as_str()).collect::<Vec<_>>(),
        [STORE]
    );
    let all = h
        .api()
        .list_stores(req(pb::ListStoresRequest::default(), &hq()))
        .await
        .unwrap()
        .into_inner()
        .stores;
    assert_eq!(all.len(), 2);
}

async fn bad_input_is_refused_by_field_and_writes_nothing(backend: Backend) {
    let h = Harness::start(backend).await;
    let good = || visit("pos-1", vec![phone("13800138000")], 58_800);
    let mut cases: Vec<(pb::ContactEvent, &str)> = Vec::new();
    let mut e = good();
    e.store_id = "nowhere".into();
    cases.push((e, "event.store_id"));
    let mut e = good();
    e.amount.as_mut().unwrap().amount_fen = -1;
    cases.push((e, "event.amount"));
    let mut e = good();
    e.amount.as_mut().unwrap().amount_fen = 10_000_001;
    cases.push((e, "event.amount"));
    let mut e = good();
    e.occurred_at.as_mut().unwrap().seconds = chrono::Utc::now().timestamp() + 3600;
    cases.push((e, "event.occurred_at"));
    let mut e = good();
    e.identity_keys.clear();
    cases.push((e, "event.identity_keys"));
    let mut e = good();
    e.identity_keys = vec![key(IdentityKind::MaskedPhone, "138****8000")];
    cases.push((e, "event.identity_keys"));
    let mut e = good();
    e.note = "注".repeat(2_001);
    cases.push((e, "event.note"));
    let mut e = good();
    e.identity_keys = vec![phone("12345")];
    cases.push((e, "event.identity_keys[0].value"));
    for (event, expected) in cases {
        let status = h.record(event).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{expected}: {status:?}"
        );
        assert_eq!(field(&status), expected, "{status:?}");
    }
    assert_eq!(h.customer_count().await, 0, "nothing written");
    assert_eq!(h.owner.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    // The good event is accepted afterwards: the refusals left no trace of its id.
    let ok = h.record(good()).await.unwrap();
    assert!(!ok.duplicate);
}

async fn a_replayed_event_changes_nothing(backend: Backend) {
    let h = Harness::start(backend).await;
    let first = h
        .record(visit("pos-7", vec![phone("138 0013 8000")], 20_000))
        .await
        .unwrap();
    assert!(!first.duplicate);
    assert_eq!(first.owner.as_ref().unwrap().manager_id, OWNER);
    assert!(first.owner.as_ref().unwrap().known);
    let replay = h
        .record(visit("pos-7", vec![phone("+86 13800138000")], 99_900))
        .await
        .unwrap();
    assert!(replay.duplicate);
    assert_eq!(
        replay.event.as_ref().unwrap().event_id,
        first.event.as_ref().unwrap().event_id
    );
    assert_eq!(
        replay
            .event
            .as_ref()
            .unwrap()
            .amount
            .as_ref()
            .unwrap()
            .amount_fen,
        20_000,
        "the first result"
    );
    let customer = replay.customer.unwrap();
    let aggregates = customer.aggregates.unwrap();
    assert_eq!((aggregates.visits, aggregates.spend_fen), (1, 20_000));
    assert_eq!(
        h.owner.calls.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "replays ask nobody"
    );
    // Another channel may reuse the id: (channel, external_id) is the key.
    let mut other = visit("pos-7", vec![phone("8613800138000")], 1_000);
    other.channel = EventChannel::MiniProgram as i32;
    let second = h.record(other).await.unwrap();
    assert!(!second.duplicate);
    assert_eq!(
        second.customer.unwrap().customer_id,
        customer.customer_id,
        "one person, three spellings"
    );
}

async fn concurrent_first_events_create_one_customer(backend: Backend) {
    let h = Harness::start(backend).await;
    for round in 0..5 {
        let number = format!("1390013900{round}");
        let a = visit(
            &format!("pos-{round}"),
            vec![
                phone(&number),
                key(IdentityKind::MemberCard, &format!("C{round}")),
            ],
            100,
        );
        let mut b = visit(
            &format!("mp-{round}"),
            vec![
                phone(&number),
                key(IdentityKind::WechatUnionid, &format!("U{round}")),
            ],
            200,
        );
        b.channel = EventChannel::MiniProgram as i32;
        let (ra, rb) = tokio::join!(h.record(a), h.record(b));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(
            ra.customer.unwrap().customer_id,
            rb.customer.unwrap().customer_id,
            "round {round}"
        );
    }
    assert_eq!(h.customer_count().await, 5);
}

/// No lock guards replays: the second copy fails on the unique external id and its retry
/// finds the first.
async fn concurrent_copies_of_one_event_record_it_once(backend: Backend) {
    let h = Harness::start(backend).await;
    for round in 0..5 {
        let event = visit(
            &format!("pos-copy-{round}"),
            vec![phone(&format!("1370013700{round}"))],
            8_800,
        );
        let (a, b) = tokio::join!(h.record(event.clone()), h.record(event));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(
            [a.duplicate, b.duplicate].iter().filter(|d| **d).count(),
            1,
            "round {round}: one copy recorded, one replayed"
        );
        assert_eq!(a.event.unwrap().event_id, b.event.unwrap().event_id);
        let customer = b.customer.unwrap();
        assert_eq!(a.customer.unwrap().customer_id, customer.customer_id);
        assert_eq!(
            customer.aggregates.unwrap().visits,
            1,
            "round {round}: counted once"
        );
    }
    assert_eq!(h.customer_count().await, 5);
}

/// Concurrent calls share transactions (group commit): every good event is counted once
/// on its customer, and an event refused for itself is refused alone, writing nothing.
async fn concurrent_calls_are_recorded_together_and_refused_alone(backend: Backend) {
    let h = Harness::start(backend).await;
    let mut calls = Vec::new();
    for guest in 0..8 {
        for visit_no in 0..2 {
            // Two days: orders on one day would be one visit.
            let event = days_earlier(
                visit(
                    &format!("pos-g{guest}-v{visit_no}"),
                    vec![phone(&format!("1350013500{guest}"))],
                    1_000,
                ),
                visit_no,
            );
            calls.push((true, event));
        }
        let mut unknown = visit(
            &format!("pos-bad-{guest}"),
            vec![key(IdentityKind::MemberCard, &format!("BAD-{guest}"))],
            1_000,
        );
        unknown.customer_id = format!("no-such-customer-{guest}");
        calls.push((false, unknown));
    }
    let answers = futures::future::join_all(calls.iter().map(|(_, e)| h.record(e.clone()))).await;
    let mut customers = std::collections::HashMap::new();
    for ((good, event), answer) in calls.iter().zip(answers) {
        if *good {
            let answer = answer.unwrap_or_else(|s| panic!("{}: {s:?}", event.external_id));
            assert!(!answer.duplicate);
            let customer = answer.customer.unwrap();
            customers.insert(customer.customer_id, ());
        } else {
            let refused = answer.unwrap_err();
            assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
            assert_eq!(field(&refused), "event.customer_id");
        }
    }
    assert_eq!(customers.len(), 8, "one customer per guest");
    assert_eq!(h.customer_count().await, 8, "refused events created nobody");
    for guest in 0..8 {
        let found = h.lookup_phone(&format!("1350013500{guest}")).await;
        assert_eq!(found.aggregates.unwrap().visits, 2, "guest {guest}");
    }
}

async fn linking_keys_merges_and_moves_history(backend: Backend) {
    let h = Harness::start(backend).await;
    let a = h
        .record(days_earlier(
            visit("pos-a", vec![phone("13700137000")], 10_000),
            2,
        ))
        .await
        .unwrap()
        .customer
        .unwrap();
    let b = h
        .record(days_earlier(
            visit(
                "pos-b",
                vec![key(IdentityKind::MemberCard, "VIP-9")],
                30_000,
            ),
            1,
        ))
        .await
        .unwrap()
        .customer
        .unwrap();
    let plan = h
        .api()
        .create_follow_up_plan(req(
            pb::CreateFollowUpPlanRequest {
                plan: Some(pb::FollowUpPlan {
                    customer_id: b.customer_id.clone(),
                    kind: pb::FollowUpKind::Call as i32,
                    title: "回访".into(),
                    due_at: Some(prost_types::Timestamp {
                        seconds: chrono::Utc::now().timestamp() + 86_400,
                        nanos: 0,
                    }),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &hq(),
        ))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    let linked = h
        .record(visit(
            "pos-c",
            vec![phone("13700137000"), key(IdentityKind::MemberCard, "VIP-9")],
            5_000,
        ))
        .await
        .unwrap()
        .customer
        .unwrap();
    // The oldest customer survives (domain::resolution).
    assert_eq!(linked.customer_id, a.customer_id);
    let aggregates = linked.aggregates.unwrap();
    assert_eq!((aggregates.visits, aggregates.spend_fen), (3, 45_000));
    assert_eq!(linked.identity_keys.len(), 2);
    let events = h
        .api()
        .list_customer_events(req(
            pb::ListCustomerEventsRequest {
                customer_id: a.customer_id.clone(),
                ..Default::default()
            },
            &hq(),
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events.len(), 3, "history moved with the merge");
    let plans = h
        .api()
        .list_follow_up_plans(req(
            pb::ListFollowUpPlansRequest {
                customer_id: a.customer_id.clone(),
                ..Default::default()
            },
            &hq(),
        ))
        .await
        .unwrap()
        .into_inner()
        .plans;
    assert!(
        plans.iter().any(|p| p.plan_id == plan.plan_id),
        "follow-ups re-pointed"
    );
    // The absorbed id leads to the survivor.
    assert_eq!(
        h.get(&b.customer_id, &hq()).await.unwrap().customer_id,
        a.customer_id
    );
    let log = h
        .watch_until(|e| matches!(e.payload, Some(Payload::CustomerMerged(_))))
        .await;
    let Some(Payload::CustomerMerged(merged)) = &log.last().unwrap().payload else {
        unreachable!()
    };
    assert_eq!(
        merged.absorbed_ids.as_slice(),
        std::slice::from_ref(&b.customer_id)
    );
    assert_eq!(merged.reason, "shared_identity");

    // A manual merge of two more.
    let c = h
        .record(days_earlier(
            visit("pos-d", vec![phone("13600136000")], 1_000),
            3,
        ))
        .await
        .unwrap()
        .customer
        .unwrap();
    let merged = h
        .api()
        .merge_customers(req(
            pb::MergeCustomersRequest {
                survivor_id: a.customer_id.clone(),
                absorbed_ids: vec![c.customer_id.clone()],
                request_id: "m-1".into(),
            },
            &hq(),
        ))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    assert_eq!(merged.aggregates.unwrap().visits, 4);
    assert_eq!(h.customer_count().await, 1);
}

async fn erasure_clears_keys_and_profile_but_keeps_aggregates(backend: Backend) {
    let h = Harness::start(backend).await;
    let c = h
        .record(visit("pos-e", vec![phone("13500135000")], 8_800))
        .await
        .unwrap()
        .customer
        .unwrap();
    let mut patch = pb::Customer {
        customer_id: c.customer_id.clone(),
        ..Default::default()
    };
    patch.profile = Some(pb::Profile {
        name: "李女士".into(),
        allergies: vec!["花生".into()],
        ..Default::default()
    });
    let updated = h
        .api()
        .update_customer(req(
            pb::UpdateCustomerRequest {
                customer: Some(patch),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["profile.name".into(), "profile.allergies".into()],
                }),
                request_id: String::new(),
            },
            &hq(),
        ))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    assert_eq!(updated.profile.as_ref().unwrap().name, "李女士");
    let erased = h
        .api()
        .erase_customer(req(
            pb::EraseCustomerRequest {
                customer_id: c.customer_id.clone(),
                request_id: String::new(),
            },
            &hq(),
        ))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    assert!(erased.erased);
    assert!(erased.identity_keys.is_empty());
    assert_eq!(erased.profile.unwrap().name, "");
    assert_eq!(
        erased.aggregates.unwrap().spend_fen,
        8_800,
        "aggregates stay, anonymous"
    );
    let lookup = h
        .api()
        .lookup_customer(req(
            pb::LookupCustomerRequest {
                identity_key: Some(phone("13500135000")),
            },
            &hq(),
        ))
        .await
        .unwrap_err();
    assert_eq!(lookup.code(), Code::NotFound);
    let events = h
        .api()
        .list_customer_events(req(
            pb::ListCustomerEventsRequest {
                customer_id: c.customer_id.clone(),
                ..Default::default()
            },
            &hq(),
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert!(
        events.iter().all(|e| e.identity_keys.is_empty()),
        "stored events lost the keys"
    );
    let log = h
        .watch_until(|e| matches!(e.payload, Some(Payload::CustomerErased(_))))
        .await;
    assert!(
        matches!(&log.last().unwrap().payload, Some(Payload::CustomerErased(x)) if x.customer_id == c.customer_id)
    );
}

async fn another_chain_sees_not_found(backend: Backend) {
    let h = Harness::start(backend).await;
    let c = h
        .record(visit("pos-x", vec![phone("13800138001")], 100))
        .await
        .unwrap()
        .customer
        .unwrap();
    let status = h.get(&c.customer_id, &other_chain()).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let lookup = h
        .api()
        .lookup_customer(req(
            pb::LookupCustomerRequest {
                identity_key: Some(phone("13800138001")),
            },
            &other_chain(),
        ))
        .await
        .unwrap_err();
    assert_eq!(lookup.code(), Code::NotFound);
    let events = h
        .api()
        .list_customer_events(req(
            pb::ListCustomerEventsRequest {
                customer_id: c.customer_id.clone(),
                ..Default::default()
            },
            &other_chain(),
        ))
        .await
        .unwrap_err();
    assert_eq!(events.code(), Code::NotFound);
}

async fn front_desk_sees_phones_masked(backend: Backend) {
    let h = Harness::start(backend).await;
    let c = h
        .record(visit("pos-m", vec![phone("13800138000")], 100))
        .await
        .unwrap()
        .customer
        .unwrap();
    let masked = h.get(&c.customer_id, &front_desk()).await.unwrap();
    assert_eq!(masked.identity_keys.len(), 1);
    assert_eq!(
        masked.identity_keys[0].kind,
        IdentityKind::MaskedPhone as i32
    );
    assert_eq!(masked.identity_keys[0].value, "138****8000");
    let full = h.get(&c.customer_id, &hq()).await.unwrap();
    assert_eq!(full.identity_keys[0].value, "+8613800138000");
    let listed = h
        .api()
        .list_customers(req(pb::ListCustomersRequest::default(), &front_desk()))
        .await
        .unwrap_err();
    assert_eq!(
        listed.code(),
        Code::PermissionDenied,
        "front desk cannot export"
    );
}

async fn a_failed_transaction_emits_nothing(backend: Backend) {
    let h = Harness::start(backend).await;
    let a = h
        .record(visit("pos-1", vec![phone("13800138002")], 100))
        .await
        .unwrap()
        .customer
        .unwrap();
    let b = h
        .record(visit("pos-2", vec![phone("13800138003")], 100))
        .await
        .unwrap()
        .customer
        .unwrap();
    // B is merged (written) before the unknown id fails the transaction: all rolls back.
    let status = h
        .api()
        .merge_customers(req(
            pb::MergeCustomersRequest {
                survivor_id: a.customer_id.clone(),
                absorbed_ids: vec![b.customer_id.clone(), "no-such".into()],
                request_id: String::new(),
            },
            &hq(),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        h.get(&b.customer_id, &hq()).await.unwrap().customer_id,
        b.customer_id,
        "B still exists"
    );
    // A marker event after the failure: everything before it is in the log, no merge.
    h.record(visit("pos-3", vec![phone("13800138004")], 100))
        .await
        .unwrap();
    let log = h.watch_until(|e| matches!(&e.payload, Some(Payload::ContactRecorded(c)) if c.amount_fen == 100 && e.sequence > 3 && c.customer_id != a.customer_id && c.customer_id != b.customer_id)).await;
    assert!(
        log.iter()
            .all(|e| !matches!(e.payload, Some(Payload::CustomerMerged(_))))
    );
    let recorded = log
        .iter()
        .filter(|e| matches!(e.payload, Some(Payload::ContactRecorded(_))))
        .count();
    assert_eq!(
        recorded, 3,
        "each contact emitted once, in its own transaction"
    );
    let first = log
        .iter()
        .find_map(|e| match &e.payload {
            Some(Payload::ContactRecorded(c)) => Some(c.clone()),
            _ => None,
        })
        .expect("a contact was recorded");
    assert_eq!(first.local_date.len(), 10, "store-local date YYYY-MM-DD");
    assert_eq!(first.lines.len(), 1, "order lines travel with the event");
}
