//! What recording one event changes once its customer is known, computed without
//! writing: the stored event, aggregates and class, store contacts, follow-up plans and
//! outbox events. Shared by the per-event step (`one`) and the set-based one (`bulk`).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use maitre_proto::{
    events::v1::{ContactRecorded, EventScope, event::Payload},
    profile::v1::ContactEvent,
};

use super::context::{IngestContext, customer_created};
use crate::app::{
    announce::{FAVOURITES_PATH, customer_updated, favourites},
    classify::{change_event, reclassify},
};
use crate::{
    convert::{event::EventInput, policy::proto_class},
    domain::{
        classification::CustomerClass,
        event::EventBody,
        followup::{FollowUpKind, plans_after_visit},
    },
    storage::{customers::CustomerRow, followups},
};

/// What recording one event writes once its customer is known, computed without writing:
/// the stored event, the customer's store contacts, follow-up plans and outbox events (in
/// the order they are emitted).
pub struct EventWrites {
    pub stored: ContactEvent,
    pub occurred_at_us: i64,
    pub stores: Vec<(String, String)>,
    pub plans: Vec<followups::PlanRow>,
    pub outbox: Vec<(EventScope, Payload)>,
}

/// Applies `input` to `row` (aggregates, bookings, class) and returns what to write.
pub fn apply_event(
    ctx: &IngestContext<'_>,
    input: &EventInput,
    event: &ContactEvent,
    row: &mut CustomerRow,
    created: bool,
) -> EventWrites {
    let domain = &input.validated.event;
    let mut stored = event.clone();
    stored.event_id = uuid::Uuid::now_v7().to_string();
    stored.customer_id = row.customer_id.clone();
    let mut outbox = Vec::with_capacity(4);
    let mut stores = Vec::with_capacity(2);
    if created {
        outbox.push(customer_created(row));
        stores.push((row.customer_id.clone(), row.home_store_id.clone()));
    }
    if !created || row.home_store_id != domain.store_id.as_str() {
        stores.push((row.customer_id.clone(), domain.store_id.as_str().to_owned()));
    }

    let visit = input.validated.visit_facts(ctx.store_zone);
    if let Some(facts) = &visit {
        let favourites_before = favourites(&row.aggregates);
        row.aggregates.apply_visit(facts);
        // Notification names the favourite in greetings and reminders; told only when it
        // changes, so a history import emits little more than its contacts.
        if favourites(&row.aggregates) != favourites_before {
            outbox.push(customer_updated(row, vec![FAVOURITES_PATH.to_owned()]));
        }
    }
    if matches!(domain.body, EventBody::Booking(_)) {
        row.bookings = row.bookings.saturating_add(1);
    }
    if let Some(change) = reclassify(row, ctx.class, ctx.now) {
        outbox.push(change_event(row, change));
    }
    row.updated_at_us = ctx.now.timestamp_micros();
    let plans = if visit.is_some() {
        plan_rows(ctx, row, &stored, domain.occurred_at)
    } else {
        Vec::new()
    };
    let local_date = maitre_kit::visits::visit_date(domain.occurred_at, ctx.store_zone)
        .format("%Y-%m-%d")
        .to_string();
    outbox.push((
        EventScope {
            customer_id: row.customer_id.clone(),
            store_id: stored.store_id.clone(),
            manager_id: stored.manager_id.clone(),
        },
        Payload::ContactRecorded(ContactRecorded {
            event_id: stored.event_id.clone(),
            customer_id: row.customer_id.clone(),
            kind: stored.kind,
            channel: stored.channel,
            store_id: stored.store_id.clone(),
            manager_id: stored.manager_id.clone(),
            amount_fen: stored.amount.as_ref().map_or(0, |m| m.amount_fen),
            occurred_at: stored.occurred_at,
            party_size: stored.party_size,
            lines: stored.lines.clone(),
            campaign_id: stored.campaign_id.clone(),
            rating: stored.rating,
            local_date,
        }),
    ));
    EventWrites {
        stored,
        occurred_at_us: domain.occurred_at.timestamp_micros(),
        stores,
        plans,
        outbox,
    }
}

/// The contract's `FollowUpKind` number of a domain kind.
pub fn follow_up_kind_number(kind: FollowUpKind) -> i32 {
    use maitre_proto::profile::v1::FollowUpKind as Pb;
    (match kind {
        FollowUpKind::Call => Pb::Call,
        FollowUpKind::Wechat => Pb::Wechat,
        FollowUpKind::Visit => Pb::Visit,
        FollowUpKind::Note => Pb::Note,
    }) as i32
}

/// Plans a visit triggers by the customer's class (seed 000 §四); plans already past
/// due (history imports) are not made.
fn plan_rows(
    ctx: &IngestContext<'_>,
    row: &CustomerRow,
    event: &ContactEvent,
    visited_at: DateTime<Utc>,
) -> Vec<followups::PlanRow> {
    let class = [CustomerClass::A, CustomerClass::B, CustomerClass::C]
        .into_iter()
        .find(|c| proto_class(*c) as i32 == row.class);
    let Some(class) = class else {
        return Vec::new();
    };
    let manager = if event.manager_id.is_empty() {
        row.owner_manager_id.clone()
    } else {
        event.manager_id.clone()
    };
    let mut seen = HashSet::new();
    let mut plans = Vec::new();
    for draft in plans_after_visit(class, visited_at, &ctx.class.rules) {
        if draft.due_at <= ctx.now || !seen.insert((draft.kind as u8, draft.due_at)) {
            continue;
        }
        plans.push(followups::PlanRow {
            plan_id: uuid::Uuid::now_v7().to_string(),
            customer_id: row.customer_id.clone(),
            manager_id: manager.clone(),
            kind: follow_up_kind_number(draft.kind),
            title: draft.purpose,
            due_at_us: draft.due_at.timestamp_micros(),
            source: crate::domain::followup::SOURCE_CLASS_RULE.into(),
            completed_at_us: None,
            record_id: String::new(),
            source_event_id: event.event_id.clone(),
            superseded_by: String::new(),
        });
    }
    plans
}
