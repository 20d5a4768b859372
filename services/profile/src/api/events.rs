//! Contact events: RecordEvent (then the owner from assignment) and ListCustomerEvents;
//! what RecordEventsBatch (`batch`) shares with them: preparing and locking an event.

use std::collections::HashSet;

use chrono::Utc;
use maitre_kit::auth::Caller;
use maitre_proto::profile::v1::{self as pb, ContactEvent};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::{ProfileServiceApi, next_page, page};
use crate::{
    app::{
        locks::{customer_lock, key_lock},
        record::{ItemOutcome, Pending, Recorded, replayed},
        view::{customer_for, customer_from, live_customer, require_customer_scope},
    },
    convert::event::{EventInput, validate},
    domain::{ids::StoreId, resolution::IdentityGuards},
    error::{Error, Result},
    owner::{ContactForOwner, unknown_owner},
    storage::followups,
};

/// Fills order lines from the menu: a line with a known dish id takes the menu's
/// category when it sent none; a line sent by name only takes the dish's id (ARCHITECTURE
/// "Menu": order lines refer to it by id, or by name).
async fn match_menu(api: &ProfileServiceApi, chain: &str, event: &mut ContactEvent) -> Result<()> {
    if event.lines.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = event
        .lines
        .iter()
        .filter(|l| !l.dish_id.is_empty())
        .map(|l| l.dish_id.clone())
        .collect();
    let names: Vec<String> = event
        .lines
        .iter()
        .filter(|l| l.dish_id.is_empty())
        .map(|l| l.dish_name.clone())
        .collect();
    let dishes = api
        .caches
        .dishes(&api.runtime.db, chain, &ids, &names)
        .await?;
    for line in &mut event.lines {
        let found = if line.dish_id.is_empty() {
            dishes.iter().find(|d| d.name == line.dish_name)
        } else {
            dishes.iter().find(|d| d.dish_id == line.dish_id)
        };
        if let Some(dish) = found {
            line.dish_id.clone_from(&dish.dish_id);
            if line.dish_name.is_empty() {
                line.dish_name.clone_from(&dish.name);
            }
            if line.category.is_empty() {
                line.category.clone_from(&dish.category);
            }
        }
    }
    Ok(())
}

/// Validates one event of the caller's chain; returns it (menu-matched) with its input.
pub(super) async fn prepare(
    api: &ProfileServiceApi,
    caller: &Caller,
    chain: &str,
    mut event: ContactEvent,
) -> Result<(ContactEvent, EventInput, chrono_tz::Tz)> {
    let store = api
        .caches
        .store(&api.runtime.db, chain, event.store_id.trim())
        .await?;
    let known: HashSet<StoreId> = store
        .iter()
        .map(|s| StoreId::new(s.store_id.clone()))
        .collect();
    match_menu(api, chain, &mut event).await?;
    let input = validate(&event, &known, Utc::now(), &api.limits)?;
    caller.require_store(event.store_id.trim())?;
    let zone = store
        .and_then(|s| s.time_zone.parse().ok())
        .unwrap_or(chrono_tz::Asia::Shanghai);
    Ok((event, input, zone))
}

/// The locks recording `input` takes: its identity keys, and the customer it names.
pub(super) fn lock_names(chain: &str, input: &EventInput) -> Vec<String> {
    let mut names: Vec<String> = input
        .keys
        .keys
        .iter()
        .map(|k| key_lock(chain, &k.canonical()))
        .collect();
    if let Some(id) = &input.customer_id {
        names.push(customer_lock(chain, id));
    }
    names
}

pub(super) async fn guards(api: &ProfileServiceApi, chain: &str) -> Result<IdentityGuards> {
    Ok(IdentityGuards {
        blocked_keys: api.caches.blocked(&api.runtime.db, chain).await?,
        ..IdentityGuards::default()
    })
}

/// Identity failures found while recording name the event's field.
pub(super) fn in_event(error: Error) -> Error {
    match error {
        Error::FailedPrecondition { field, message } if field == "identity_keys" => {
            Error::FailedPrecondition {
                field: "event.identity_keys".into(),
                message,
            }
        }
        e => e,
    }
}

pub(super) async fn record(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::RecordEventRequest,
) -> Result<pb::RecordEventResponse> {
    let chain = caller.chain()?;
    let event = r
        .event
        .ok_or_else(|| Error::invalid("event", "is required"))?;
    let (event, input, zone) = prepare(api, caller, chain, event).await?;
    let occurred_at_us = input.validated.event.occurred_at.timestamp_micros();
    let (channel, external_id) = (event.channel, event.external_id.clone());
    let pending = Pending {
        chain: chain.to_owned(),
        class: api.caches.class(&api.runtime.db, chain).await?,
        blocked: api.caches.blocked(&api.runtime.db, chain).await?,
        lock_names: lock_names(chain, &input),
        event,
        input,
        zone,
    };
    let mut recorded = match api.group_commit.record(pending).await? {
        ItemOutcome::Recorded(recorded) => *recorded,
        ItemOutcome::Replayed => replayed(&api.runtime.db, chain, channel, &external_id).await?,
        ItemOutcome::Refused(e) => return Err(in_event(e)),
    };

    let owner = if recorded.duplicate {
        // Replays change nothing and ask nobody: the owner as last reported.
        pb::OwnerSummary {
            manager_id: recorded.customer.owner_manager_id.clone(),
            ..unknown_owner()
        }
    } else {
        let latest_other_contact_us = crate::storage::events::latest_other_contact_us(
            &api.runtime.db,
            chain,
            &recorded.customer.customer_id,
            &recorded.event.event_id,
        )
        .await?;
        let contact = ContactForOwner {
            customer_id: recorded.customer.customer_id.clone(),
            store_id: recorded.event.store_id.clone(),
            contact_manager_id: recorded.event.manager_id.clone(),
            amount_fen: recorded.event.amount.as_ref().map_or(0, |m| m.amount_fen),
            occurred_at_us,
            source_event_id: recorded.event.event_id.clone(),
            latest_other_contact_us,
        };
        let owner = api.owner.owner_after_contact(&contact, &caller.token).await;
        if owner.known {
            remember_owner(&api.runtime.db, chain, &recorded, &owner.manager_id).await?;
            recorded
                .customer
                .owner_manager_id
                .clone_from(&owner.manager_id);
        }
        owner
    };
    let customer = match &recorded.keys {
        Some((keys, stores)) => customer_from(&recorded.customer, keys, stores.clone(), caller)?,
        None => customer_for(&api.runtime.db, chain, &recorded.customer, caller).await?,
    };
    Ok(pb::RecordEventResponse {
        event: Some(recorded.event),
        customer: Some(customer),
        owner: Some(owner),
        duplicate: recorded.duplicate,
    })
}

/// Keeps the owner assignment reported on the customer, and gives the customer's follow-up
/// plans nobody holds to them (the same effect as `OwnerChanged` on the stream).
async fn remember_owner(
    db: &DatabaseConnection,
    chain: &str,
    recorded: &Recorded,
    manager_id: &str,
) -> Result<()> {
    db.execute_raw(maitre_kit::db::stmt(
        db,
        "UPDATE customers SET owner_manager_id = $3 WHERE chain_id = $1 AND customer_id = $2",
        [
            chain.into(),
            recorded.customer.customer_id.clone().into(),
            manager_id.into(),
        ],
    ))
    .await?;
    followups::hand_unheld_plans_to_owner(db, chain, &recorded.customer.customer_id, manager_id)
        .await?;
    Ok(())
}

pub(super) async fn list(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::ListCustomerEventsRequest,
) -> Result<pb::ListCustomerEventsResponse> {
    let chain = caller.chain()?;
    let (offset, size) = page(r.page_size, &r.page_token)?;
    let row = live_customer(
        &api.runtime.db,
        chain,
        crate::convert::required("customer_id", &r.customer_id)?,
    )
    .await?;
    require_customer_scope(&api.runtime.db, chain, &row, caller).await?;
    let mut events = crate::storage::events::list_for_customer(
        &api.runtime.db,
        chain,
        &row.customer_id,
        r.kind,
        offset,
        size,
    )
    .await?;
    let full = customer_for(&api.runtime.db, chain, &row, caller)
        .await?
        .identity_keys
        .iter()
        .all(|k| k.kind != maitre_proto::common::v1::IdentityKind::MaskedPhone as i32);
    if !full {
        // Callers who see masked phones see events without their raw keys.
        for event in &mut events {
            event.identity_keys.clear();
        }
    }
    Ok(pb::ListCustomerEventsResponse {
        next_page_token: next_page(offset, size, events.len()),
        events,
    })
}
