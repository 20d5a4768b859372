//! A run of profile events about single guests (a history import: each guest's creation,
//! visit and class arrive together), applied set-based: the run's guests are read and
//! locked with one statement per table, the facts its events write (customer rows, stores,
//! attributes, visits and their dish lines) are worked out in memory in event order and
//! written with one multi-row statement per table, and then each guest is re-evaluated
//! once, their facts read a statement per table for the whole run. The rows written are the
//! ones the events applied one by one would write; what is announced per guest (a tag
//! added, a prediction) is still one event each, in the same transaction as the cursor.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use maitre_proto::events::v1::{Event, event::Payload};
use sea_orm::ConnectionTrait;

use super::{Reevaluation, class_letter, interaction_of_contact, visit_of_contact};
use crate::{
    app::{
        live::reevaluate_customers,
        scores::rescore_customer,
        watch::after_fact_changes,
        zones::{CHAIN_TIME_ZONE, zone_named},
    },
    domain::rule::InteractionKind,
    error::Result,
    state::Deps,
    storage::{
        facts::{
            CustomerRow, VisitRow, allocate_numbers, insert_visits, lock_customers,
            replace_attributes_of, upsert_customers,
        },
        interactions::record_interaction,
        menu::{VisitLines, insert_visit_lines_of},
        models::load_model,
        places::{insert_customer_stores, store_zone_of, stores_of_customers},
    },
};

/// The customer an event of a guest run is about.
fn customer_of(event: &Event) -> Option<&str> {
    match event.payload.as_ref()? {
        Payload::CustomerCreated(e) => Some(&e.customer_id),
        Payload::ContactRecorded(e) => Some(&e.customer_id),
        Payload::CustomerUpdated(e) => Some(&e.customer_id),
        Payload::ClassChanged(e) => Some(&e.customer_id),
        _ => None,
    }
}

/// One guest's state while the run's events are worked through.
struct Guest {
    row: CustomerRow,
    erased: bool,
    /// Not stored yet: inserted whole, numbered in order of first appearance.
    new: bool,
    /// Birthday or class changed: written back.
    changed: bool,
    /// Stores the guest had contact with, and whether one of them is home.
    stores: HashSet<String>,
    has_home: bool,
    /// Re-evaluated after the run's facts (not erased, an event reached its facts).
    reevaluate: Option<Reevaluation>,
}

/// Applies the facts of `events` (those [`super::guest_facts_only`]; the others change
/// nothing here) and re-evaluates their guests, a chain at a time (chains share nothing).
pub async fn apply_guest_run(
    conn: &impl ConnectionTrait,
    deps: &Deps,
    events: &[&Event],
    now: DateTime<Utc>,
) -> Result<()> {
    let mut chains: Vec<&str> = Vec::new();
    for event in events {
        if !chains.contains(&event.chain_id.as_str()) {
            chains.push(&event.chain_id);
        }
    }
    for chain in chains {
        let of_chain: Vec<&Event> = events
            .iter()
            .filter(|e| e.chain_id == chain)
            .copied()
            .collect();
        apply_chain_run(conn, deps, chain, &of_chain, now).await?;
    }
    Ok(())
}

async fn apply_chain_run(
    conn: &impl ConnectionTrait,
    deps: &Deps,
    chain: &str,
    events: &[&Event],
    now: DateTime<Utc>,
) -> Result<()> {
    let now_us = now.timestamp_micros();
    // The guests in order of first appearance (the order `ensure_customer` numbers them).
    let mut order: Vec<String> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for event in events {
        if let Some(id) = customer_of(event)
            && seen.insert(id)
        {
            order.push(id.to_owned());
        }
    }
    let mut guests: HashMap<String, Guest> = HashMap::with_capacity(order.len());
    for (row, erased) in lock_customers(conn, chain, &order).await? {
        guests.insert(
            row.customer_id.clone(),
            Guest {
                row,
                erased,
                new: false,
                changed: false,
                stores: HashSet::new(),
                has_home: false,
                reevaluate: None,
            },
        );
    }
    for id in &order {
        guests.entry(id.clone()).or_insert_with(|| Guest {
            row: CustomerRow {
                customer_id: id.clone(),
                number: 0,
                birthday: None,
                class: None,
                attributes: Vec::new(),
            },
            erased: false,
            new: true,
            changed: false,
            stores: HashSet::new(),
            has_home: false,
            reevaluate: None,
        });
    }
    for (customer, store, home) in stores_of_customers(conn, chain, &order).await? {
        if let Some(guest) = guests.get_mut(&customer) {
            guest.has_home |= home;
            guest.stores.insert(store);
        }
    }

    // Work through the events in order; `ensure_customer`'s "erased: nothing" included.
    let mut new_stores: Vec<(String, String, bool)> = Vec::new();
    let mut visits: Vec<(String, VisitRow)> = Vec::new();
    let mut lines: Vec<VisitLines> = Vec::new();
    let mut interactions: Vec<(String, InteractionKind, String, i32)> = Vec::new();
    let mut attributes: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut zones: HashMap<String, chrono_tz::Tz> = HashMap::new();
    let mut record_store = |guest: &mut Guest, store: &str| {
        if store.is_empty() || guest.stores.contains(store) {
            return;
        }
        let home = !guest.has_home;
        guest.has_home = true;
        guest.stores.insert(store.to_owned());
        new_stores.push((guest.row.customer_id.clone(), store.to_owned(), home));
    };
    for event in events {
        let Some(id) = customer_of(event) else {
            continue;
        };
        let Some(guest) = guests.get_mut(id) else {
            continue;
        };
        let how = match event.payload.as_ref() {
            Some(Payload::CustomerCreated(e)) => {
                // Recorded before the erasure check, as `apply_profile_facts` does.
                record_store(guest, &e.home_store_id);
                if guest.erased {
                    continue;
                }
                Reevaluation::default()
            }
            Some(Payload::ContactRecorded(e)) => {
                if guest.erased {
                    continue;
                }
                record_store(guest, &e.store_id);
                let store_zone = if e.local_date.is_empty() {
                    match zones.get(&e.store_id) {
                        Some(zone) => *zone,
                        None => {
                            let zone = store_zone_of(conn, chain, &e.store_id)
                                .await?
                                .map_or(CHAIN_TIME_ZONE, |name| zone_named(&name));
                            zones.insert(e.store_id.clone(), zone);
                            zone
                        }
                    }
                } else {
                    CHAIN_TIME_ZONE // unused: the local date profile sent decides
                };
                if let Some(visit) = visit_of_contact(e, store_zone) {
                    lines.push((
                        e.event_id.clone(),
                        e.customer_id.clone(),
                        visit.day,
                        visit.store_id.clone(),
                        e.lines
                            .iter()
                            .map(|l| (l.dish_id.clone(), l.dish_name.clone(), l.category.clone()))
                            .collect(),
                    ));
                    visits.push((e.event_id.clone(), visit));
                    Reevaluation {
                        rescore: true,
                        watched: false,
                    }
                } else {
                    if let Some((kind, occurrence, day)) = interaction_of_contact(e, store_zone) {
                        interactions.push((e.customer_id.clone(), kind, occurrence, day));
                    }
                    Reevaluation::default()
                }
            }
            Some(Payload::CustomerUpdated(e)) => {
                if guest.erased {
                    continue;
                }
                guest.row.birthday = e.birthday.as_ref().and_then(|d| {
                    let (month, day) = (u32::try_from(d.month).ok()?, u32::try_from(d.day).ok()?);
                    (month > 0 && day > 0).then_some((month, day))
                });
                guest.changed = true;
                let mut told: Vec<(String, String)> = e
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                told.sort();
                attributes.insert(e.customer_id.clone(), told);
                Reevaluation {
                    rescore: false,
                    watched: true,
                }
            }
            Some(Payload::ClassChanged(e)) => {
                if guest.erased {
                    continue;
                }
                guest.row.class = class_letter(e.to).map(str::to_owned);
                guest.changed = true;
                Reevaluation {
                    rescore: false,
                    watched: true,
                }
            }
            _ => continue,
        };
        guest.reevaluate = Some(guest.reevaluate.unwrap_or_default().and(how));
    }

    // Write: new guests numbered in order of first appearance, then their facts.
    let new: Vec<&String> = order.iter().filter(|id| guests[*id].new).collect();
    if !new.is_empty() {
        let count = u32::try_from(new.len()).unwrap_or(u32::MAX);
        let first = allocate_numbers(conn, chain, count).await?;
        for (offset, id) in (0u32..).zip(new.iter().map(|id| (*id).clone())) {
            if let Some(guest) = guests.get_mut(&id) {
                guest.row.number = first + offset;
            }
        }
    }
    let rows: Vec<&CustomerRow> = order
        .iter()
        .map(|id| &guests[id])
        .filter(|g| g.new || (g.changed && !g.erased))
        .map(|g| &g.row)
        .collect();
    upsert_customers(conn, chain, &rows, now_us).await?;
    insert_customer_stores(conn, chain, &new_stores).await?;
    let attributes: Vec<(String, Vec<(String, String)>)> = attributes.into_iter().collect();
    replace_attributes_of(conn, chain, &attributes).await?;
    insert_visits(conn, chain, &visits).await?;
    insert_visit_lines_of(conn, chain, &lines).await?;
    for (customer, kind, occurrence, day) in &interactions {
        record_interaction(conn, chain, customer, *kind, occurrence, *day).await?;
    }

    // Re-evaluate each guest once: scores first (rules read them), rules, watched segments.
    let waiting: Vec<(&String, Reevaluation)> = order
        .iter()
        .filter_map(|id| Some((id, guests[id].reevaluate?)))
        .collect();
    if waiting.iter().any(|(_, how)| how.rescore) && load_model(conn, chain).await?.is_some() {
        for (id, _) in waiting.iter().filter(|(_, how)| how.rescore) {
            rescore_customer(conn, deps, chain, id, now).await?;
        }
    }
    let ids: Vec<String> = waiting.iter().map(|(id, _)| (*id).clone()).collect();
    reevaluate_customers(conn, deps, chain, &ids, now).await?;
    let watched: Vec<String> = waiting
        .iter()
        .filter(|(_, how)| how.watched)
        .map(|(id, _)| (*id).clone())
        .collect();
    after_fact_changes(conn, &deps.runtime.events, chain, &watched, now_us).await?;
    Ok(())
}
