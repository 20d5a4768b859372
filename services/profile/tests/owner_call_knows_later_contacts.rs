//! Profile's `AssignOnContact` call says which contact of the guest it recorded last (issue 20,
//! item 3): an older booking whose call reaches assignment before assignment's stream brings a
//! newer contact must not move the owner, and only profile knows of that newer contact then.

mod common;

use chrono::{Duration, Utc};
use common::*;
use maitre_kit::{on_both_backends, testing::Backend};
use maitre_proto::profile::v1 as pb;

fn booking_at(external_id: &str, minutes_ago: i64) -> (pb::ContactEvent, i64) {
    let at = Utc::now() - Duration::minutes(minutes_ago);
    let seconds = at.timestamp();
    let event = pb::ContactEvent {
        occurred_at: Some(prost_types::Timestamp { seconds, nanos: 0 }),
        ..visit(external_id, vec![phone("13800138111")], 100)
    };
    (event, seconds * 1_000_000)
}

async fn the_call_names_the_latest_other_contact(backend: Backend) {
    let h = Harness::start(backend).await;
    let (first, first_us) = booking_at("b-60", 60);
    let (recent, recent_us) = booking_at("b-10", 10);
    let (late, _) = booking_at("b-30", 30);
    for event in [first, recent, late] {
        h.record(event).await.expect("recorded");
    }
    let seen = h.owner.latest_other.lock().expect("lock").clone();
    assert_eq!(
        seen,
        [None, Some(first_us), Some(recent_us)],
        "the late booking's call names the newer contact, not only the older one"
    );
}

on_both_backends!(the_call_names_the_latest_other_contact);
