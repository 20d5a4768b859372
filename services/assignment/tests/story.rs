//! The seed story and the per-contact rules end to end, on both backends: last contact,
//! value lock and what the history says about it, replays, expiry, bad input.

mod common;

use common::*;
use maitre_kit::on_both_backends;
use maitre_kit::testing::Backend;
use maitre_proto::assignment::v1 as pb;
use tonic::Code;

/// Wang → Zhang → locked to Zhang at ¥5,000 → a later booking via Wang stays with Zhang.
async fn seed_story(backend: Backend) {
    let h = Harness::start(backend, 1).await;
    let mut api = h.api();
    add_manager(&mut api, "wang", &[STORE], 0).await;
    add_manager(&mut api, "zhang", &[STORE], 0).await;
    set_policy(
        &mut api,
        pb::Policy {
            value_lock_threshold_fen: 500_000,
            ..Default::default()
        },
        &["value_lock_threshold_fen"],
    )
    .await;

    let first = contact(
        &mut api,
        Contact {
            customer: "li",
            via: "wang",
            amount_fen: 0,
            at: at(0),
            event: "e1",
        },
    )
    .await;
    assert!(first.changed);
    assert_eq!(
        first.ownership.as_ref().map(|o| o.manager_id.as_str()),
        Some("wang")
    );

    let second = contact(
        &mut api,
        Contact {
            customer: "li",
            via: "zhang",
            amount_fen: 200_000,
            at: at(3600),
            event: "e2",
        },
    )
    .await;
    assert!(second.changed);
    assert_eq!(
        second.ownership.as_ref().map(|o| o.manager_id.as_str()),
        Some("zhang")
    );

    // ¥2,000 + ¥3,200 crosses ¥5,000 on a visit through Zhang: locked to Zhang.
    let third = contact(
        &mut api,
        Contact {
            customer: "li",
            via: "zhang",
            amount_fen: 320_000,
            at: at(7200),
            event: "e3",
        },
    )
    .await;
    let owned = third.ownership.expect("ownership");
    assert!(owned.locked);
    assert_eq!(owned.manager_id, "zhang");
    assert_eq!(owned.counted_spend_fen, 520_000);

    // Booking through Wang again: the lock holds (and that is the no-write fast path).
    let fourth = contact(
        &mut api,
        Contact {
            customer: "li",
            via: "wang",
            amount_fen: 0,
            at: at(10_800),
            event: "e4",
        },
    )
    .await;
    assert!(!fourth.changed);
    let now = ownership(&mut api, "li").await;
    assert_eq!(now.manager_id, "zhang");
    assert!(now.locked);
    assert_eq!(pb::Reason::try_from(now.reason), Ok(pb::Reason::ValueLock));

    let why = history(&mut api, "li").await;
    let reasons: Vec<pb::Reason> = why.iter().map(reason).collect();
    assert_eq!(
        reasons,
        [
            pb::Reason::LastContact,
            pb::Reason::LastContact,
            pb::Reason::ValueLock
        ]
    );
    assert_eq!(why[1].from_manager_id, "wang");
    assert_eq!(why[1].to_manager_id, "zhang");
    assert_eq!(why[1].source_event_id, "e2");
    assert!(
        why[2].explanation.contains("spend ¥5,200 ≥ ¥5,000"),
        "{}",
        why[2].explanation
    );
    assert!(why[2].locked);

    // The same contact delivered twice changes nothing.
    let replay = contact(
        &mut api,
        Contact {
            customer: "li",
            via: "wang",
            amount_fen: 320_000,
            at: at(7200),
            event: "e3",
        },
    )
    .await;
    assert!(!replay.changed);
    let after = ownership(&mut api, "li").await;
    assert_eq!(after.counted_spend_fen, 520_000);
    assert_eq!(history(&mut api, "li").await.len(), 3);

    // The Watch stream tells the rest of the system: OwnerChanged wang → zhang, then the lock.
    let mut stream = api
        .watch(req(pb::WatchRequest { from_sequence: 0 }))
        .await
        .expect("watch")
        .into_inner();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), stream.message()).await;
        let Ok(Ok(Some(event))) = next else { break };
        use maitre_proto::events::v1::event::Payload;
        match event.payload {
            Some(Payload::OwnerChanged(changed)) => seen.push(format!(
                "owner {}→{} {}",
                changed.from_manager_id, changed.to_manager_id, changed.reason
            )),
            Some(Payload::CustomerLocked(locked)) => {
                seen.push(format!("locked {} {}", locked.manager_id, locked.reason))
            }
            _ => {}
        }
    }
    assert_eq!(
        seen,
        [
            "owner →wang last_contact",
            "owner wang→zhang last_contact",
            "locked zhang value_lock"
        ]
    );

    // Stats: Zhang owns one locked customer who spent ¥5,200 in the period.
    let stats = api
        .get_manager_stats(req(pb::GetManagerStatsRequest {
            manager_id: "zhang".into(),
            period_start: Some(ts(at(-60))),
            period_end: Some(ts(at(86_400))),
        }))
        .await
        .expect("stats")
        .into_inner();
    assert_eq!(
        (
            stats.owned,
            stats.locked,
            stats.new_in_period,
            stats.revenue_fen
        ),
        (1, 1, 1, 520_000)
    );
    let wang = api
        .get_manager_stats(req(pb::GetManagerStatsRequest {
            manager_id: "wang".into(),
            period_start: Some(ts(at(-60))),
            period_end: Some(ts(at(86_400))),
        }))
        .await
        .expect("stats")
        .into_inner();
    assert_eq!(
        (wang.owned, wang.new_in_period, wang.lost_in_period),
        (0, 1, 1)
    );
}

on_both_backends!(seed_story);

/// A lock expires after the configured days without a visit; the next contact moves freely.
async fn lock_expiry(backend: Backend) {
    let h = Harness::start(backend, 1).await;
    let mut api = h.api();
    add_manager(&mut api, "wang", &[STORE], 0).await;
    add_manager(&mut api, "zhang", &[STORE], 0).await;
    set_policy(
        &mut api,
        pb::Policy {
            value_lock_threshold_fen: 100_000,
            lock_expiry_days: 30,
            ..Default::default()
        },
        &["value_lock_threshold_fen", "lock_expiry_days"],
    )
    .await;
    contact(
        &mut api,
        Contact {
            customer: "c",
            via: "wang",
            amount_fen: 150_000,
            at: at(0),
            event: "v1",
        },
    )
    .await;
    assert!(ownership(&mut api, "c").await.locked);
    // Within 30 days Zhang's booking does not move the customer.
    let held = contact(
        &mut api,
        Contact {
            customer: "c",
            via: "zhang",
            amount_fen: 0,
            at: at(20 * 86_400),
            event: "b1",
        },
    )
    .await;
    assert_eq!(
        held.ownership.map(|o| o.manager_id),
        Some("wang".to_owned())
    );
    // 31 days after the last visit the lock has expired: last contact applies again.
    let moved = contact(
        &mut api,
        Contact {
            customer: "c",
            via: "zhang",
            amount_fen: 0,
            at: at(31 * 86_400),
            event: "b2",
        },
    )
    .await;
    let owned = moved.ownership.expect("ownership");
    assert_eq!(owned.manager_id, "zhang");
    assert!(!owned.locked);
    let reasons: Vec<pb::Reason> = history(&mut api, "c").await.iter().map(reason).collect();
    assert_eq!(
        reasons,
        [
            pb::Reason::LastContact,
            pb::Reason::ValueLock,
            pb::Reason::Expiry,
            pb::Reason::LastContact
        ]
    );
}

on_both_backends!(lock_expiry);

/// Bad input is refused with the field named, and nothing is written.
async fn bad_input(backend: Backend) {
    let h = Harness::start(backend, 1).await;
    let mut api = h.api();
    add_manager(&mut api, "wang", &[STORE], 0).await;
    let error = api
        .update_policy(req(pb::UpdatePolicyRequest {
            policy: Some(pb::Policy {
                value_lock_threshold_fen: -1,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["value_lock_threshold_fen".into()],
            }),
        }))
        .await
        .expect_err("negative threshold (0 = no value lock)");
    assert_eq!(error.code(), Code::InvalidArgument);
    assert_eq!(
        maitre_kit::error::field_of(&error).as_deref(),
        Some("policy.value_lock_threshold_fen")
    );
    let policy = api
        .get_policy(req(pb::GetPolicyRequest::default()))
        .await
        .expect("policy")
        .into_inner();
    assert_eq!(policy.policy.map(|p| p.value_lock_threshold_fen), Some(0));

    // A manager id the roster does not know is the guest's misfortune, not a refusal: the
    // contact is answered and the guest waits in the pool saying why (issue 20).
    let unknown = api
        .assign_on_contact(maitre_kit::client::outgoing(
            contact_request(&Contact {
                customer: "c",
                via: "ghost",
                amount_fen: 0,
                at: at(0),
                event: "x1",
            }),
            &service(),
        ))
        .await
        .expect("unknown manager answered")
        .into_inner()
        .ownership
        .expect("ownership");
    assert_eq!(unknown.manager_id, "");
    assert_eq!(unknown.unassigned_reason, "unknown_contact_manager");

    let negative = api
        .assign_on_contact(maitre_kit::client::outgoing(
            contact_request(&Contact {
                customer: "c",
                via: "wang",
                amount_fen: -5,
                at: at(0),
                event: "x2",
            }),
            &service(),
        ))
        .await
        .expect_err("negative amount");
    assert_eq!(
        maitre_kit::error::field_of(&negative).as_deref(),
        Some("amount_fen")
    );

    // Another chain's customer is not found, never data.
    contact(
        &mut api,
        Contact {
            customer: "c",
            via: "wang",
            amount_fen: 0,
            at: at(0),
            event: "x3",
        },
    )
    .await;
    let other_chain =
        maitre_kit::testing::token("chain-2", maitre_kit::auth::Role::HqAdmin, "hq-2", &[]);
    let hidden = api
        .get_ownership(maitre_kit::client::outgoing(
            pb::GetOwnershipRequest {
                customer_id: "c".into(),
            },
            &other_chain,
        ))
        .await
        .expect_err("other chain");
    assert_eq!(hidden.code(), Code::NotFound);
    // A store manager of another store may not change the roster of s1.
    let outsider =
        maitre_kit::testing::token(CHAIN, maitre_kit::auth::Role::StoreManager, "sm-9", &["s9"]);
    let denied = api
        .set_manager_status(maitre_kit::client::outgoing(
            pb::SetManagerStatusRequest {
                manager_id: "wang".into(),
                status: pb::ManagerStatus::Left as i32,
                request_id: String::new(),
            },
            &outsider,
        ))
        .await
        .expect_err("out of scope");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

on_both_backends!(bad_input);
