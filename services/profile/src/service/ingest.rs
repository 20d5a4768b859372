//! Recording one contact event inside a transaction: replay check, identity resolution
//! (create, existing, merge, blocked), the event row, aggregates, class, follow-up plans
//! after a visit, and the outbox events — all committed together or not at all.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maitre_kit::eventlog::EventLog;
use maitre_proto::{
    events::v1::{ContactRecorded, CustomerCreated, EventScope, event::Payload},
    profile::v1::ContactEvent,
};
use sea_orm::ConnectionTrait;

use super::{
    classify::{ClassContext, emit_change, reclassify},
    merge::merge_into,
    view::live_customer,
};
use crate::{
    convert::{event::EventInput, policy::proto_class},
    domain::{
        classification::CustomerClass,
        event::EventBody,
        followup::{FollowUpKind, plans_after_visit},
        identity::IdentityKey,
        resolution::{IdentityGuards, Resolution, resolve},
    },
    error::{Error, Result},
    storage::{customers, customers::CustomerRow, events, followups, identity},
};

/// The outcome of recording one event.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The stored event (the first one on a replay).
    pub event: ContactEvent,
    pub customer: CustomerRow,
    pub duplicate: bool,
    pub created: bool,
    pub merged_ids: Vec<String>,
}

/// What recording needs besides the event.
pub struct IngestContext<'a> {
    pub log: &'a EventLog,
    pub chain: &'a str,
    pub class: &'a ClassContext,
    pub guards: &'a IdentityGuards,
    /// The event's store's time zone (for `local_date`).
    pub store_zone: Tz,
    pub now: DateTime<Utc>,
}

/// The customer an event's keys name: found, created or merged; `(row, created, merged)`.
pub async fn resolve_customer(
    conn: &impl ConnectionTrait,
    ctx: &IngestContext<'_>,
    keys: &[IdentityKey],
    named_customer: Option<&str>,
    home_store_id: &str,
) -> Result<(CustomerRow, bool, Vec<String>)> {
    let now_us = ctx.now.timestamp_micros();
    let matches = identity::matches(conn, ctx.chain, keys).await?;
    let resolved = resolve(keys, &matches, ctx.guards);
    let (row, created, merged) = if let Some(id) = named_customer {
        // The caller named the customer: its keys only add links, never merge.
        let row = live_customer(conn, ctx.chain, id)
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => {
                    Error::invalid("event.customer_id", format!("customer `{id}` not found"))
                }
                e => e,
            })?;
        (row, false, Vec::new())
    } else {
        match resolved.resolution {
            Resolution::Create => {
                let id = uuid::Uuid::now_v7().to_string();
                let row = CustomerRow::new(id, home_store_id.to_owned(), now_us);
                customers::insert(conn, ctx.chain, &row).await?;
                customers::add_store(conn, ctx.chain, &row.customer_id, home_store_id).await?;
                ctx.log
                    .append(
                        conn,
                        ctx.chain,
                        EventScope {
                            customer_id: row.customer_id.clone(),
                            store_id: home_store_id.to_owned(),
                            manager_id: String::new(),
                        },
                        Payload::CustomerCreated(CustomerCreated {
                            customer_id: row.customer_id.clone(),
                            home_store_id: home_store_id.to_owned(),
                        }),
                    )
                    .await?;
                (row, true, Vec::new())
            }
            Resolution::Existing(id) => {
                let row = customers::get_for_update(conn, ctx.chain, &id.to_string())
                    .await?
                    .ok_or_else(|| Error::not_found("customer", id.to_string()))?;
                (row, false, Vec::new())
            }
            Resolution::Merge { survivor, absorbed } => {
                let absorbed: Vec<String> = absorbed.iter().map(ToString::to_string).collect();
                let row = merge_into(
                    conn,
                    ctx.log,
                    ctx.chain,
                    &survivor.to_string(),
                    &absorbed,
                    "shared_identity",
                    now_us,
                )
                .await?;
                (row, false, absorbed)
            }
            Resolution::Blocked { key, .. } => {
                return Err(Error::FailedPrecondition {
                    field: "identity_keys".into(),
                    message: format!(
                        "identifier `{}` is blocked (block list or shared by too many customers)",
                        key.kind()
                    ),
                });
            }
            Resolution::NoIdentity => {
                return Err(Error::invalid(
                    "identity_keys",
                    "at least one identity key is required",
                ));
            }
        }
    };
    for key in &resolved.keys_to_link {
        identity::link(conn, ctx.chain, key, &row.customer_id, now_us).await?;
    }
    Ok((row, created, merged))
}

/// Records `input` (its contract form `event`) unless `(channel, external_id)` was seen.
pub async fn record(
    conn: &impl ConnectionTrait,
    ctx: &IngestContext<'_>,
    input: &EventInput,
    event: &ContactEvent,
) -> Result<Recorded> {
    if let Some(first) =
        events::find_external(conn, ctx.chain, event.channel, &event.external_id).await?
    {
        let customer = live_customer(conn, ctx.chain, &first.customer_id).await?;
        return Ok(Recorded {
            event: first,
            customer,
            duplicate: true,
            created: false,
            merged_ids: Vec::new(),
        });
    }
    let now_us = ctx.now.timestamp_micros();
    let domain = &input.validated.event;
    let (mut row, created, merged_ids) = resolve_customer(
        conn,
        ctx,
        &input.keys.keys,
        input.customer_id.as_deref(),
        domain.store_id.as_str(),
    )
    .await?;

    let mut stored = event.clone();
    stored.event_id = uuid::Uuid::now_v7().to_string();
    stored.customer_id = row.customer_id.clone();
    events::insert(
        conn,
        ctx.chain,
        &stored,
        domain.occurred_at.timestamp_micros(),
        now_us,
    )
    .await?;
    customers::add_store(conn, ctx.chain, &row.customer_id, domain.store_id.as_str()).await?;

    let visit = input.validated.visit_facts();
    if let Some(facts) = &visit {
        row.aggregates.apply_visit(facts);
    }
    if matches!(domain.body, EventBody::Booking(_)) {
        row.bookings = row.bookings.saturating_add(1);
    }
    let change = reclassify(&mut row, ctx.class, ctx.now);
    row.updated_at_us = now_us;
    customers::save(conn, ctx.chain, &row).await?;
    if let Some(change) = change {
        emit_change(conn, ctx.log, ctx.chain, &row, change).await?;
    }
    if visit.is_some() {
        plan_follow_ups(conn, ctx, &row, &stored, domain.occurred_at).await?;
    }

    let local_date = domain
        .occurred_at
        .with_timezone(&ctx.store_zone)
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    ctx.log
        .append(
            conn,
            ctx.chain,
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
        )
        .await?;
    Ok(Recorded {
        event: stored,
        customer: row,
        duplicate: false,
        created,
        merged_ids,
    })
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
async fn plan_follow_ups(
    conn: &impl ConnectionTrait,
    ctx: &IngestContext<'_>,
    row: &CustomerRow,
    event: &ContactEvent,
    visited_at: DateTime<Utc>,
) -> Result<()> {
    let class = [CustomerClass::A, CustomerClass::B, CustomerClass::C]
        .into_iter()
        .find(|c| proto_class(*c) as i32 == row.class);
    let Some(class) = class else { return Ok(()) };
    let manager = if event.manager_id.is_empty() {
        row.owner_manager_id.clone()
    } else {
        event.manager_id.clone()
    };
    let mut seen = HashSet::new();
    for draft in plans_after_visit(class, visited_at, &ctx.class.rules) {
        if draft.due_at <= ctx.now || !seen.insert((draft.kind as u8, draft.due_at)) {
            continue;
        }
        let plan = followups::PlanRow {
            plan_id: uuid::Uuid::now_v7().to_string(),
            customer_id: row.customer_id.clone(),
            manager_id: manager.clone(),
            kind: follow_up_kind_number(draft.kind),
            title: draft.purpose,
            due_at_us: draft.due_at.timestamp_micros(),
            source: "class_rule".into(),
            completed_at_us: None,
            record_id: String::new(),
            source_event_id: event.event_id.clone(),
        };
        followups::insert_plan(conn, ctx.chain, &plan, ctx.now.timestamp_micros()).await?;
    }
    Ok(())
}
