//! Contacts reach ownership from profile's `ContactRecorded` stream as well as from
//! `AssignOnContact`, through the same decision and keyed by the same event id: a contact
//! the synchronous call never brought (assignment down, a timed-out call, a batch import)
//! still counts, once; ownership follows `occurred_at` whatever the arrival order; and a
//! contact that cannot produce an owner leaves the guest in the pool with the reason.
//! Events are driven through the real handler with the kit consumer, as in
//! `profile_events.rs`.

mod common;

use common::*;
use maitre_assignment::{app::Engine, events::ProfileEvents};
use maitre_kit::eventlog::Consumer;
use maitre_kit::on_both_backends;
use maitre_kit::runtime::Runtime;
use maitre_kit::testing::Backend;
use maitre_proto::assignment::v1 as pb;
use maitre_proto::events::v1::{ContactRecorded, Event, event::Payload};

/// Profile's stream as assignment consumes it, in order.
struct Stream {
    consumer: Consumer,
    handler: ProfileEvents,
    sequence: u64,
}

impl Stream {
    async fn start(h: &Harness) -> Self {
        let runtime =
            Runtime::start::<maitre_assignment::storage::Migrator>(h.config.config.clone())
                .await
                .expect("runtime");
        Self {
            consumer: Consumer::new("assignment<-profile", runtime.db.clone()),
            handler: ProfileEvents {
                engine: Engine::new(runtime),
            },
            sequence: 0,
        }
    }

    /// Delivers profile's `ContactRecorded` for `contact` (event id = `contact.event`).
    async fn deliver(&mut self, store_id: &str, contact: &Contact<'_>) {
        self.sequence += 1;
        let event = Event {
            sequence: self.sequence,
            event_id: format!("outbox-{}", self.sequence),
            chain_id: CHAIN.into(),
            source: "profile".into(),
            payload: Some(Payload::ContactRecorded(ContactRecorded {
                event_id: contact.event.to_owned(),
                customer_id: contact.customer.to_owned(),
                store_id: store_id.to_owned(),
                manager_id: contact.via.to_owned(),
                amount_fen: contact.amount_fen,
                occurred_at: Some(ts(contact.at)),
                ..Default::default()
            })),
            ..Default::default()
        };
        let applied = self
            .consumer
            .apply(&event, &self.handler)
            .await
            .expect("ContactRecorded applied");
        assert_eq!(format!("{applied:?}"), "Applied");
    }
}

fn paid<'a>(
    customer: &'a str,
    via: &'a str,
    amount_fen: i64,
    seconds: i64,
    event: &'a str,
) -> Contact<'a> {
    Contact {
        customer,
        via,
        amount_fen,
        at: at(seconds),
        event,
    }
}

/// Assignment missed the synchronous calls: the stream alone decides owners, counts spend
/// toward the lock, and a contact brought by both routes counts once.
async fn streamed_contacts_count_once(backend: Backend) {
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
    let mut stream = Stream::start(&h).await;

    // li: the first visit answered by the call, then delivered by the stream too.
    let first = paid("li", "wang", 300_000, 0, "e1");
    contact(&mut api, paid("li", "wang", 300_000, 0, "e1")).await;
    stream.deliver(STORE, &first).await;
    assert_eq!(ownership(&mut api, "li").await.counted_spend_fen, 300_000);
    // The second visit never reached assignment by call (it was down): the stream brings it,
    // and it crosses the threshold.
    stream
        .deliver(STORE, &paid("li", "wang", 300_000, 60, "e2"))
        .await;
    let li = ownership(&mut api, "li").await;
    assert_eq!(li.manager_id, "wang");
    assert!(
        li.locked,
        "the streamed visit counted toward the value lock"
    );
    assert_eq!(li.counted_spend_fen, 600_000);
    // A re-sent call of the streamed contact changes nothing.
    let again = contact(&mut api, paid("li", "wang", 300_000, 60, "e2")).await;
    assert!(!again.changed);
    assert_eq!(ownership(&mut api, "li").await.counted_spend_fen, 600_000);

    // A guest assignment only ever hears of from the stream (an import) gets an owner.
    stream
        .deliver(STORE, &paid("chen", "zhang", 80_000, 0, "e3"))
        .await;
    let chen = ownership(&mut api, "chen").await;
    assert_eq!(chen.manager_id, "zhang");
    assert_eq!(chen.counted_spend_fen, 80_000);
    // ... and a walk-in without a manager is allocated by the store's strategy.
    stream
        .deliver(STORE, &paid("zhou", "", 10_000, 0, "e4"))
        .await;
    assert!(!ownership(&mut api, "zhou").await.manager_id.is_empty());
}

/// M1 books at T−60 (paid), M1 at T−10 (no spend: the call answers on the fast path and
/// writes nothing), M2's booking dated T−30 arrives last: M1 stays the owner, in either
/// order of the stream and the late call.
async fn late_booking_does_not_move_the_owner(backend: Backend) {
    let h = Harness::start(backend, 1).await;
    let mut api = h.api();
    add_manager(&mut api, "wang", &[STORE], 0).await;
    add_manager(&mut api, "zhang", &[STORE], 0).await;
    let mut stream = Stream::start(&h).await;

    for (customer, stream_first) in [("li", true), ("chen", false)] {
        let events = [
            format!("{customer}-1"),
            format!("{customer}-2"),
            format!("{customer}-3"),
        ];
        let early = paid(customer, "wang", 1_000, 0, &events[0]);
        let recent = paid(customer, "wang", 0, 50, &events[1]);
        let late = paid(customer, "zhang", 0, 30, &events[2]);
        contact(&mut api, paid(customer, "wang", 1_000, 0, &events[0])).await;
        stream.deliver(STORE, &early).await;
        let kept = contact(&mut api, paid(customer, "wang", 0, 50, &events[1])).await;
        assert_eq!(kept.ownership.expect("ownership").manager_id, "wang");
        if stream_first {
            stream.deliver(STORE, &recent).await;
            let answer = contact(&mut api, paid(customer, "zhang", 0, 30, &events[2])).await;
            assert_eq!(
                answer.ownership.expect("ownership").manager_id,
                "wang",
                "an older booking does not take the guest"
            );
            stream.deliver(STORE, &late).await;
        } else {
            contact(&mut api, paid(customer, "zhang", 0, 30, &events[2])).await;
            stream.deliver(STORE, &recent).await;
            stream.deliver(STORE, &late).await;
        }
        let owner = ownership(&mut api, customer).await;
        assert_eq!(
            owner.manager_id, "wang",
            "{customer}: the latest contact decides"
        );
        assert_eq!(
            owner.last_contact_time.map(|t| t.seconds),
            Some(at(50).timestamp()),
            "{customer}: the no-spend contact's time is recorded"
        );
    }
}

/// The bad order, in full (issue 20, item 3): M1's no-spend booking at T−10 is answered by
/// the fast path (which writes nothing), and M2's older booking (T−30) reaches assignment by
/// its call before the stream brings the T−10 one. Profile's call says which contact of the
/// guest it recorded last; the older call must not hand the guest to M2 even for a moment:
/// its answer, the ownership read at once and the history all say M1, before and after the
/// stream catches up.
async fn an_older_call_never_flips_the_owner(backend: Backend) {
    let h = Harness::start(backend, 1).await;
    let mut api = h.api();
    add_manager(&mut api, "wang", &[STORE], 0).await;
    add_manager(&mut api, "zhang", &[STORE], 0).await;
    let mut stream = Stream::start(&h).await;

    let early = paid("li", "wang", 1_000, 0, "li-1");
    let recent = paid("li", "wang", 0, 50, "li-2");
    let late = paid("li", "zhang", 0, 30, "li-3");
    contact(&mut api, paid("li", "wang", 1_000, 0, "li-1")).await;
    stream.deliver(STORE, &early).await;
    let fast = contact(&mut api, paid("li", "wang", 0, 50, "li-2")).await;
    assert_eq!(fast.ownership.expect("ownership").manager_id, "wang");

    let late_call = || pb::AssignOnContactRequest {
        latest_other_contact_time: Some(ts(at(50))),
        ..contact_request(&late)
    };
    let answer = api
        .assign_on_contact(maitre_kit::client::outgoing(late_call(), &service()))
        .await
        .expect("late call")
        .into_inner();
    assert!(!answer.changed, "{answer:?}");
    assert_eq!(
        answer.ownership.expect("ownership").manager_id,
        "wang",
        "the older booking's call does not take the guest"
    );
    assert_eq!(ownership(&mut api, "li").await.manager_id, "wang");

    stream.deliver(STORE, &recent).await;
    stream.deliver(STORE, &late).await;
    let owner = ownership(&mut api, "li").await;
    assert_eq!(owner.manager_id, "wang");
    assert_eq!(
        owner.last_contact_time.map(|t| t.seconds),
        Some(at(50).timestamp())
    );
    let decisions = history(&mut api, "li").await;
    assert!(
        decisions.iter().all(|d| d.to_manager_id != "zhang"),
        "no decision ever named zhang: {decisions:?}"
    );
    // Replays, by either route, change nothing.
    for c in [&early, &recent, &late] {
        stream.deliver(STORE, c).await;
    }
    let again = api
        .assign_on_contact(maitre_kit::client::outgoing(late_call(), &service()))
        .await
        .expect("replayed call")
        .into_inner();
    assert_eq!(again.ownership.expect("ownership").manager_id, "wang");
    assert_eq!(history(&mut api, "li").await.len(), decisions.len());

    // A malformed time is refused, naming the field.
    let bad = api
        .assign_on_contact(maitre_kit::client::outgoing(
            pb::AssignOnContactRequest {
                latest_other_contact_time: Some(prost_types::Timestamp {
                    seconds: 0,
                    nanos: -1,
                }),
                ..contact_request(&paid("li", "zhang", 0, 70, "li-4"))
            },
            &service(),
        ))
        .await
        .expect_err("refused");
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(
        bad.message().contains("latest_other_contact_time"),
        "{bad:?}"
    );
}

async fn pool_page(
    api: &mut maitre_proto::assignment::v1::assignment_service_client::AssignmentServiceClient<
        tonic::transport::Channel,
    >,
    store: &str,
) -> Vec<pb::Ownership> {
    api.list_unassigned(req(pb::ListUnassignedRequest {
        store_id: store.into(),
        page_size: 100,
        page_token: String::new(),
    }))
    .await
    .expect("list unassigned")
    .into_inner()
    .ownerships
}

/// A contact that cannot produce an owner answers, and leaves the guest in the pool with
/// the reason: a store with no managers, a manager id the roster does not know — by call
/// and by stream alike (the stream is not held up).
async fn orphans_wait_in_the_pool_with_the_reason(backend: Backend) {
    let h = Harness::start(backend, 1).await;
    let mut api = h.api();
    add_manager(&mut api, "wang", &[STORE], 0).await;
    let mut stream = Stream::start(&h).await;
    const EMPTY: &str = "s-empty";

    let answer = api
        .assign_on_contact(maitre_kit::client::outgoing(
            pb::AssignOnContactRequest {
                store_id: EMPTY.into(),
                ..contact_request(&paid("li", "", 5_000, 0, "o1"))
            },
            &service(),
        ))
        .await
        .expect("a booking at a store without managers is answered")
        .into_inner();
    let li = answer.ownership.expect("ownership");
    assert_eq!(li.manager_id, "");
    assert_eq!(li.unassigned_reason, "no_managers_at_store");
    stream
        .deliver(EMPTY, &paid("chen", "wang-typo", 5_000, 0, "o2"))
        .await;
    let pool = pool_page(&mut api, EMPTY).await;
    let ids: Vec<&str> = pool.iter().map(|o| o.customer_id.as_str()).collect();
    assert_eq!(ids, ["chen", "li"]);

    let ghost = contact(&mut api, paid("zhou", "ghost", 5_000, 0, "o3")).await;
    let zhou = ghost.ownership.expect("ownership");
    assert_eq!(zhou.manager_id, "");
    assert_eq!(zhou.unassigned_reason, "unknown_contact_manager");
    let seen = ownership(&mut api, "zhou").await;
    assert_eq!(
        pb::Reason::try_from(seen.reason),
        Ok(pb::Reason::Unassigned)
    );
    let pool = pool_page(&mut api, STORE).await;
    assert!(
        pool.iter()
            .any(|o| o.customer_id == "zhou" && o.unassigned_reason == "unknown_contact_manager")
    );
    let why = history(&mut api, "zhou").await;
    assert!(
        why.last()
            .expect("a decision")
            .explanation
            .contains("does not know"),
        "the history says why: {why:?}"
    );

    // The guest's next contact through a real manager gives an owner and ends the wait.
    contact(&mut api, paid("zhou", "wang", 0, 60, "o4")).await;
    let zhou = ownership(&mut api, "zhou").await;
    assert_eq!(zhou.manager_id, "wang");
    assert_eq!(zhou.unassigned_reason, "");
}

on_both_backends!(
    streamed_contacts_count_once,
    late_booking_does_not_move_the_owner,
    an_older_call_never_flips_the_owner,
    orphans_wait_in_the_pool_with_the_reason
);
