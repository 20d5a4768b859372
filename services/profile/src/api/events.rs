//! Contact events: RecordEvent (then the owner from assignment), RecordEventsBatch (bulk,
//! one transaction per chunk, no assignment calls) and ListCustomerEvents.

use std::collections::HashSet;

use chrono::Utc;
use maitre_kit::auth::Caller;
use maitre_proto::profile::v1::{self as pb, ContactEvent};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

use super::{ProfileServiceApi, next_page, page};
use crate::{
    convert::event::{EventInput, validate},
    domain::{ids::StoreId, resolution::IdentityGuards},
    error::{Error, Result},
    owner::{ContactForOwner, unknown_owner},
    service::{
        begin_write,
        classify::{ClassContext, load_context},
        ingest::{IngestContext, Recorded, record as record_event},
        is_retryable,
        locks::{key_lock, lock_all},
        view::{customer_for, live_customer, require_customer_scope},
    },
    storage::{followups, identity, menu, stores},
};

/// Largest batch accepted by RecordEventsBatch.
const MAX_BATCH: usize = 10_000;
/// Events per transaction in a batch.
const CHUNK: usize = 500;
/// Attempts of one transaction that met a retryable conflict.
const ATTEMPTS: usize = 5;

/// Fills order lines from the menu: a line with a known dish id takes the menu's
/// category when it sent none; a line sent by name only takes the dish's id (ARCHITECTURE
/// "Menu": order lines refer to it by id, or by name).
async fn match_menu(db: &DatabaseConnection, chain: &str, event: &mut ContactEvent) -> Result<()> {
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
    let dishes = menu::by_ids_or_names(db, chain, &ids, &names).await?;
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
async fn prepare(
    api: &ProfileServiceApi,
    caller: &Caller,
    chain: &str,
    mut event: ContactEvent,
) -> Result<(ContactEvent, EventInput, chrono_tz::Tz)> {
    let store = stores::get(&api.runtime.db, chain, event.store_id.trim()).await?;
    let known: HashSet<StoreId> = store
        .iter()
        .map(|s| StoreId::new(s.store_id.clone()))
        .collect();
    match_menu(&api.runtime.db, chain, &mut event).await?;
    let input = validate(&event, &known, Utc::now(), &api.limits)?;
    caller.require_store(event.store_id.trim())?;
    let zone = store
        .and_then(|s| s.time_zone.parse().ok())
        .unwrap_or(chrono_tz::Asia::Shanghai);
    Ok((event, input, zone))
}

fn lock_names(chain: &str, event: &ContactEvent, input: &EventInput) -> Vec<String> {
    let mut names: Vec<String> = input
        .keys
        .keys
        .iter()
        .map(|k| key_lock(chain, &k.canonical()))
        .collect();
    names.push(format!(
        "event:{chain}:{}:{}",
        event.channel, event.external_id
    ));
    if let Some(id) = &input.customer_id {
        names.push(format!("customer:{chain}:{id}"));
    }
    names
}

async fn guards(conn: &impl ConnectionTrait, chain: &str) -> Result<IdentityGuards> {
    Ok(IdentityGuards {
        blocked_keys: identity::blocked(conn, chain).await?,
        ..IdentityGuards::default()
    })
}

async fn record_once(
    api: &ProfileServiceApi,
    chain: &str,
    class: &ClassContext,
    event: &ContactEvent,
    input: &EventInput,
    zone: chrono_tz::Tz,
) -> Result<Recorded> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = async {
            let txn = begin_write(&api.runtime.db).await?;
            let guards = guards(&txn, chain).await?;
            let ctx = IngestContext {
                log: &api.runtime.events,
                chain,
                class,
                guards: &guards,
                store_zone: zone,
                now: Utc::now(),
            };
            let recorded = record_event(&txn, &ctx, input, event).await?;
            txn.commit().await?;
            Ok::<_, Error>(recorded)
        }
        .await;
        match result {
            Err(e) if attempt < ATTEMPTS && is_retryable(&e) => continue,
            other => return other.map_err(in_event),
        }
    }
}

/// Identity failures found while recording name the event's field.
fn in_event(error: Error) -> Error {
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
    let class = load_context(&api.runtime.db, chain, Utc::now()).await?;
    let locks = lock_all(&api.runtime.coord, lock_names(chain, &event, &input)).await?;
    let recorded = record_once(api, chain, &class, &event, &input, zone).await;
    locks.release().await;
    let mut recorded = recorded?;
    api.runtime.events.committed();

    let owner = if recorded.duplicate {
        // Replays change nothing and ask nobody: the owner as last reported.
        pb::OwnerSummary {
            manager_id: recorded.customer.owner_manager_id.clone(),
            ..unknown_owner()
        }
    } else {
        let contact = ContactForOwner {
            customer_id: recorded.customer.customer_id.clone(),
            store_id: recorded.event.store_id.clone(),
            contact_manager_id: recorded.event.manager_id.clone(),
            amount_fen: recorded.event.amount.as_ref().map_or(0, |m| m.amount_fen),
            occurred_at_us: input.validated.event.occurred_at.timestamp_micros(),
            source_event_id: recorded.event.event_id.clone(),
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
    let customer = customer_for(&api.runtime.db, chain, &recorded.customer, caller).await?;
    Ok(pb::RecordEventResponse {
        event: Some(recorded.event),
        customer: Some(customer),
        owner: Some(owner),
        duplicate: recorded.duplicate,
    })
}

/// Keeps the owner assignment reported on the customer, and gives the event's
/// unassigned follow-up plans to them.
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
    if !manager_id.is_empty() {
        followups::assign_event_plans(db, chain, &recorded.event.event_id, manager_id).await?;
    }
    Ok(())
}

fn rejected(index: usize, error: &Error) -> pb::BatchItemResult {
    let (field, message) = match error {
        Error::InvalidArgument { field, message }
        | Error::FailedPrecondition { field, message } => (field.clone(), message.clone()),
        other => (String::new(), other.to_string()),
    };
    pb::BatchItemResult {
        index: i32::try_from(index).unwrap_or(i32::MAX),
        error: message,
        error_field: field,
        ..pb::BatchItemResult::default()
    }
}

fn is_item_error(error: &Error) -> bool {
    matches!(
        error,
        Error::InvalidArgument { .. }
            | Error::FailedPrecondition { .. }
            | Error::NotFound { .. }
            | Error::PermissionDenied(_)
    ) || matches!(error, Error::Status(s) if s.code() == tonic::Code::PermissionDenied)
}

pub(super) async fn record_batch(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::RecordEventsBatchRequest,
) -> Result<pb::RecordEventsBatchResponse> {
    let chain = caller.chain()?;
    if r.events.len() > MAX_BATCH {
        return Err(Error::invalid(
            "events",
            format!("at most {MAX_BATCH} events per batch"),
        ));
    }
    let class = load_context(&api.runtime.db, chain, Utc::now()).await?;
    let mut response = pb::RecordEventsBatchResponse::default();
    let mut index = 0;
    for chunk in r.events.chunks(CHUNK) {
        let mut prepared = Vec::with_capacity(chunk.len());
        for event in chunk {
            match prepare(api, caller, chain, event.clone()).await {
                Ok(p) => prepared.push((index, p)),
                Err(e) if is_item_error(&e) => {
                    response.rejected += 1;
                    response.results.push(rejected(index, &e));
                }
                Err(e) => return Err(e),
            }
            index += 1;
        }
        let names = prepared
            .iter()
            .flat_map(|(_, (e, i, _))| lock_names(chain, e, i))
            .collect();
        let locks = lock_all(&api.runtime.coord, names).await?;
        let outcome = record_chunk(api, chain, &class, &prepared).await;
        locks.release().await;
        let (recorded, duplicates, failures) = outcome?;
        response.recorded += recorded;
        response.duplicates += duplicates;
        response.rejected += i64::try_from(failures.len()).unwrap_or(i64::MAX);
        response.results.extend(failures);
        api.runtime.events.committed();
    }
    Ok(response)
}

type Prepared = (usize, (ContactEvent, EventInput, chrono_tz::Tz));

/// One transaction for a chunk; each event in a savepoint so a rejected one writes nothing.
async fn record_chunk(
    api: &ProfileServiceApi,
    chain: &str,
    class: &ClassContext,
    items: &[Prepared],
) -> Result<(i64, i64, Vec<pb::BatchItemResult>)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = async {
            let txn = begin_write(&api.runtime.db).await?;
            let guards = guards(&txn, chain).await?;
            let (mut recorded, mut duplicates, mut failures) = (0, 0, Vec::new());
            for (index, (event, input, zone)) in items {
                let ctx = IngestContext {
                    log: &api.runtime.events,
                    chain,
                    class,
                    guards: &guards,
                    store_zone: *zone,
                    now: Utc::now(),
                };
                let savepoint = txn.begin().await?;
                match record_event(&savepoint, &ctx, input, event).await {
                    Ok(r) => {
                        savepoint.commit().await?;
                        if r.duplicate {
                            duplicates += 1
                        } else {
                            recorded += 1
                        }
                    }
                    Err(e) if is_item_error(&e) => {
                        savepoint.rollback().await?;
                        failures.push(rejected(*index, &in_event(e)));
                    }
                    Err(e) => return Err(e),
                }
            }
            txn.commit().await?;
            Ok((recorded, duplicates, failures))
        }
        .await;
        match result {
            Err(e) if attempt < ATTEMPTS && is_retryable(&e) => continue,
            other => return other,
        }
    }
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
