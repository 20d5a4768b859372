//! Full recompute equals the live path; time-driven rules move with the calendar alone.

use maitre_kit::on_both_backends;
use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use maitre_kit::{
    config::ServiceName,
    runtime::Runtime,
    testing::{Backend, TestConfig},
};
use maitre_proto::{
    events::v1::{ContactKind, ContactRecorded, Event, event::Payload},
    tagging::v1::{ListTagHistoryRequest, StartRecomputeRequest, TagSource},
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

use crate::common::{Harness, admin, created, days_earlier, start, visit};

async fn history_len(h: &mut Harness, chain: &str) -> usize {
    h.client
        .list_tag_history(admin(
            chain,
            ListTagHistoryRequest {
                page_size: 500,
                ..Default::default()
            },
        ))
        .await
        .expect("history")
        .into_inner()
        .entries
        .len()
}

async fn recompute(h: &mut Harness, chain: &str, request_id: &str) -> String {
    let job = h
        .client
        .start_recompute(admin(
            chain,
            StartRecomputeRequest {
                request_id: request_id.into(),
            },
        ))
        .await
        .expect("start")
        .into_inner()
        .progress
        .expect("progress");
    let done = h.wait_job(chain, &job.job_id).await;
    assert_eq!(done.state, 3, "succeeded: {done:?}");
    assert_eq!(done.done, done.total);
    job.job_id
}

async fn recompute_equals_live(backend: Backend) {
    let mut h = start(backend).await;
    let chain = "chain-1";
    let r1 = h
        .active_tag(chain, "r1", TagSource::Rule, "visits(30d) >= 2")
        .await;
    let r2 = h
        .active_tag(
            chain,
            "r2",
            TagSource::Rule,
            "has_tag(\"r1\") and spend(30d) > 100",
        )
        .await;
    // Customer n: n % 4 visits of (40 + 10 n) yuan.
    let visits = |n: u32| n % 4;
    let ticket_yuan = |n: u32| 40 + 10 * n;
    for n in 0..12 {
        let id = format!("v{n:02}");
        h.profile.push(chain, created(&id));
        for day in 0..visits(n) {
            let paid = visit(&id, i64::from(ticket_yuan(n)) * 100, &[]);
            h.profile.push(chain, days_earlier(paid, u64::from(day)));
        }
    }
    h.sync_profile(chain, "marker").await;
    let expected = |pick: &dyn Fn(u32) -> bool| -> Vec<String> {
        (0..12)
            .filter(|n| pick(*n))
            .map(|n| format!("v{n:02}"))
            .collect()
    };
    let expected_r1 = expected(&|n| visits(n) >= 2);
    let expected_r2 = expected(&|n| visits(n) >= 2 && visits(n) * ticket_yuan(n) > 100);
    let live_r1 = h.members(chain, &r1.tag_id).await;
    let live_r2 = h.members(chain, &r2.tag_id).await;
    assert_eq!(live_r1, expected_r1);
    assert_eq!(live_r2, expected_r2);
    let live_history = history_len(&mut h, chain).await;

    let first = recompute(&mut h, chain, "recompute-1").await;
    assert_eq!(h.members(chain, &r1.tag_id).await, live_r1);
    assert_eq!(h.members(chain, &r2.tag_id).await, live_r2);
    assert_eq!(
        history_len(&mut h, chain).await,
        live_history,
        "the recompute found nothing to change"
    );
    let replay = h
        .client
        .start_recompute(admin(
            chain,
            StartRecomputeRequest {
                request_id: "recompute-1".into(),
            },
        ))
        .await
        .expect("replay")
        .into_inner()
        .progress
        .expect("progress");
    assert_eq!(replay.job_id, first);

    // A rule activated after the events is backfilled by the recompute...
    let r3 = h
        .active_tag(
            chain,
            "r3",
            TagSource::Rule,
            "visits(30d) >= 1 and not has_tag(\"r2\")",
        )
        .await;
    recompute(&mut h, chain, "recompute-2").await;
    let expected_r3 = expected(&|n| visits(n) >= 1 && !expected_r2.contains(&format!("v{n:02}")));
    assert_eq!(h.members(chain, &r3.tag_id).await, expected_r3);
    // ...and the live path then agrees with it: a recompute after more events changes nothing.
    // Days of their own (v01's one visit was today): orders on one day are one visit.
    h.profile
        .push(chain, days_earlier(visit("v01", 50_000, &[]), 5));
    h.profile
        .push(chain, days_earlier(visit("v00", 100, &[]), 5));
    h.sync_profile(chain, "marker-2").await;
    let after_live: Vec<Vec<String>> = vec![
        h.members(chain, &r1.tag_id).await,
        h.members(chain, &r2.tag_id).await,
        h.members(chain, &r3.tag_id).await,
    ];
    assert!(
        after_live[1].contains(&"v01".to_owned()),
        "v01 now has 2 visits and ¥550"
    );
    let before = history_len(&mut h, chain).await;
    recompute(&mut h, chain, "recompute-3").await;
    let after_recompute: Vec<Vec<String>> = vec![
        h.members(chain, &r1.tag_id).await,
        h.members(chain, &r2.tag_id).await,
        h.members(chain, &r3.tag_id).await,
    ];
    assert_eq!(after_recompute, after_live);
    assert_eq!(history_len(&mut h, chain).await, before);
}

on_both_backends!(recompute_equals_live);

fn event(chain: &str, payload: Payload) -> Event {
    Event {
        sequence: 1,
        chain_id: chain.into(),
        payload: Some(payload),
        ..Default::default()
    }
}

/// `days_since_last_visit >= 60` turns true with no event, on the daily re-evaluation.
async fn time_driven_rules(backend: Backend) {
    let config = TestConfig::new(ServiceName::Tagging, backend, &[]);
    let runtime = Runtime::start::<Migrator>(config.config.clone())
        .await
        .expect("runtime");
    let deps = Deps::new(runtime.clone());
    let chain = "chain-t";
    let now = Utc::now();
    let tag = TagRow {
        chain_id: chain.into(),
        tag_id: "lapsed-id".into(),
        name: "lapsed".into(),
        display_name: "流失预警".into(),
        category: 2,
        source: SOURCE_RULE,
        lifecycle: LIFECYCLE_ACTIVE,
        description: String::new(),
        owner: String::new(),
        rule: "days_since_last_visit >= 60".into(),
        rule_version: 1,
        rule_refs: Vec::new(),
        time_dependent: true,
        model: String::new(),
        created_at_us: 0,
        updated_at_us: 0,
    };
    insert_tag(&runtime.db, &tag).await.expect("tag");
    let ten_days_ago =
        (now.with_timezone(&chrono_tz::Asia::Shanghai) - Duration::days(10)).date_naive();
    let contact = ContactRecorded {
        event_id: "e1".into(),
        customer_id: "g1".into(),
        kind: ContactKind::Visit as i32,
        amount_fen: 5000,
        store_id: "s1".into(),
        local_date: ten_days_ago.format("%Y-%m-%d").to_string(),
        ..Default::default()
    };
    let live = apply_profile_event(
        &runtime.db,
        &deps,
        &event(chain, Payload::ContactRecorded(contact)),
        now,
    )
    .await
    .expect("apply");
    assert!(live.is_empty(), "10 days is not lapsed");
    let today = recompute_time_dependent(&deps, chain, now)
        .await
        .expect("today")
        .expect("ran");
    assert_eq!((today.customers, today.changes), (1, 0));
    assert!(
        recompute_time_dependent(&deps, chain, now)
            .await
            .expect("again")
            .is_none(),
        "once a day"
    );
    let later = recompute_time_dependent(&deps, chain, now + Duration::days(50))
        .await
        .expect("later")
        .expect("ran");
    assert_eq!(later.changes, 1);
    let tags: BTreeSet<String> = memberships_of(&runtime.db, chain, "g1")
        .await
        .expect("memberships")
        .into_iter()
        .map(|m| format!("{}:{}", m.tag_id, m.actor))
        .collect();
    assert_eq!(tags, BTreeSet::from(["lapsed-id:rule:v1".to_owned()]));
}

on_both_backends!(time_driven_rules);
