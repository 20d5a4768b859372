//! Recording a chunk of a batch import set-based: one read for the chunk's replays, one
//! for every identity link its keys have, one for the existing customers it touches, then
//! one multi-row INSERT per table, instead of a dozen statements per event.
//!
//! Only events that cannot influence each other take this path: each names its customer by
//! keys that no other event of the chunk uses, resolves to a new or one existing customer
//! that no other event of the chunk touches, and carries an external id of its own. They
//! are then independent, so recording them together gives what recording them one by one
//! gives (same domain rules: `domain::resolution`, `apply::apply_event`). The others
//! (merges, blocked keys, a named customer, repeat visits within the chunk, replays
//! within the chunk) are left to the per-event path, which the caller runs afterwards in
//! the chunk's order.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use maitre_kit::eventlog::EventLog;
use sea_orm::ConnectionTrait;

use super::{
    apply::apply_event,
    context::{IngestContext, Item, Recorded, new_customer_keys},
};
use crate::app::{announce, classify::ClassContext};
use crate::{
    convert::event::EventInput,
    domain::{
        identity::IdentityKey,
        resolution::{CustomerMatch, IdentityGuards, Resolution, resolve},
    },
    error::Result,
    storage::{
        customer_stores, customers, customers::CustomerRow, events, followups, identity,
        writes::Writes,
    },
};

/// What the chunk shares.
pub struct Chunk<'a> {
    pub log: &'a EventLog,
    pub chain: &'a str,
    pub class: &'a ClassContext,
    pub guards: &'a IdentityGuards,
    pub now: DateTime<Utc>,
}

/// What [`record_independent`] did, by position in the items.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The events it recorded.
    pub recorded: Vec<(usize, Recorded)>,
    /// Events whose `(channel, external_id)` was recorded before the chunk (nothing written,
    /// the first recording not read).
    pub replays: Vec<usize>,
    /// Positions left for the per-event path, in order.
    pub rest: Vec<usize>,
}

enum Target {
    Create(Vec<IdentityKey>),
    Existing(String, Vec<IdentityKey>),
}

fn distinct_keys(input: &EventInput) -> Vec<&IdentityKey> {
    let mut seen = HashSet::new();
    input.keys.keys.iter().filter(|k| seen.insert(*k)).collect()
}

/// Records the chunk's independent events set-based, counts replays of earlier events,
/// and returns the rest.
pub async fn record_independent(
    conn: &impl ConnectionTrait,
    chunk: &Chunk<'_>,
    items: &[Item<'_>],
) -> Result<Outcome> {
    let mut outcome = Outcome::default();
    let externals: Vec<(i32, String)> = items
        .iter()
        .map(|i| (i.event.channel, i.event.external_id.clone()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let seen_before = events::recorded_externals(conn, chunk.chain, &externals).await?;
    let mut live = Vec::with_capacity(items.len());
    let mut external_uses: HashMap<(i32, &str), usize> = HashMap::new();
    for (pos, item) in items.iter().enumerate() {
        let external = (item.event.channel, item.event.external_id.as_str());
        if seen_before.contains(&(external.0, external.1.to_owned())) {
            // A replay writes nothing, so it cannot influence any other event.
            outcome.replays.push(pos);
        } else {
            live.push(pos);
            *external_uses.entry(external).or_default() += 1;
        }
    }

    let mut wanted = HashSet::new();
    let all_keys: Vec<IdentityKey> = live
        .iter()
        .flat_map(|&pos| distinct_keys(items[pos].input))
        .filter(|k| wanted.insert(*k))
        .cloned()
        .collect();
    let matches = identity::matches(conn, chunk.chain, &all_keys).await?;
    let mut by_key: HashMap<&IdentityKey, Vec<&CustomerMatch>> = HashMap::new();
    for m in &matches {
        by_key.entry(&m.key).or_default().push(m);
    }

    // How many of the chunk's events use each key and each customer.
    let mut key_uses: HashMap<&IdentityKey, usize> = HashMap::new();
    let mut customer_uses: HashMap<String, usize> = HashMap::new();
    let customers_of = |input: &EventInput| -> HashSet<String> {
        let mut ids: HashSet<String> = distinct_keys(input)
            .into_iter()
            .flat_map(|k| by_key.get(k).into_iter().flatten())
            .map(|m| m.customer_id.to_string())
            .collect();
        ids.extend(input.customer_id.clone());
        ids
    };
    for &pos in &live {
        for key in distinct_keys(items[pos].input) {
            *key_uses.entry(key).or_default() += 1;
        }
        for id in customers_of(items[pos].input) {
            *customer_uses.entry(id).or_default() += 1;
        }
    }

    // A named customer may be an absorbed id whose survivor the links name: with one in
    // the chunk, events on existing customers keep the chunk's order (per-event path).
    let names_a_customer = live
        .iter()
        .any(|&pos| items[pos].input.customer_id.is_some());
    let mut targets: Vec<(usize, Target)> = Vec::new();
    for &pos in &live {
        let item = &items[pos];
        let keys = distinct_keys(item.input);
        let independent = item.input.customer_id.is_none()
            && external_uses[&(item.event.channel, item.event.external_id.as_str())] == 1
            && keys.iter().all(|k| key_uses[k] == 1)
            && customers_of(item.input)
                .iter()
                .all(|id| customer_uses[id] == 1);
        if !independent {
            outcome.rest.push(pos);
            continue;
        }
        let own: Vec<CustomerMatch> = keys
            .iter()
            .flat_map(|k| by_key.get(k).into_iter().flatten())
            .map(|m| (*m).clone())
            .collect();
        let resolved = resolve(&item.input.keys.keys, &own, chunk.guards);
        match resolved.resolution {
            Resolution::Create => targets.push((pos, Target::Create(resolved.keys_to_link))),
            Resolution::Existing(id) if !names_a_customer => {
                targets.push((pos, Target::Existing(id.to_string(), resolved.keys_to_link)))
            }
            _ => outcome.rest.push(pos),
        }
    }

    let existing_ids: Vec<String> = targets
        .iter()
        .filter_map(|(_, t)| match t {
            Target::Existing(id, _) => Some(id.clone()),
            Target::Create(_) => None,
        })
        .collect();
    let mut existing: HashMap<String, CustomerRow> =
        customers::get_many_for_update(conn, chunk.chain, &existing_ids)
            .await?
            .into_iter()
            .filter(|row| row.merged_into.is_none())
            .map(|row| (row.customer_id.clone(), row))
            .collect();

    let now_us = chunk.now.timestamp_micros();
    let (mut new_rows, mut changed_rows) = (Vec::new(), Vec::new());
    let (mut links, mut stored, mut stores, mut plans, mut outbox) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (pos, target) in targets {
        let item = &items[pos];
        let (mut row, created, keys_to_link) = match target {
            Target::Create(keys) => {
                let id = uuid::Uuid::now_v7().to_string();
                let home = item.input.validated.event.store_id.as_str().to_owned();
                (CustomerRow::new(id, home, now_us), true, keys)
            }
            Target::Existing(id, keys) => match existing.remove(&id) {
                Some(row) => (row, false, keys),
                None => {
                    // Merged or gone since the links were read: let the per-event path decide.
                    outcome.rest.push(pos);
                    continue;
                }
            },
        };
        let ctx = IngestContext {
            log: chunk.log,
            chain: chunk.chain,
            class: chunk.class,
            guards: chunk.guards,
            store_zone: item.zone,
            now: chunk.now,
        };
        let writes = apply_event(&ctx, item.input, item.event, &mut row, created);
        let links_before = links.len();
        links.extend(
            keys_to_link
                .into_iter()
                .map(|k| (k, row.customer_id.clone())),
        );
        // A new customer's keys and stores are exactly what is written for it.
        let keys = created.then(|| {
            let keys = links.iter().map(|(k, _)| k.clone());
            new_customer_keys(keys.skip(links_before), &writes.stores)
        });
        outcome.recorded.push((
            pos,
            Recorded {
                event: writes.stored.clone(),
                customer: row.clone(),
                duplicate: false,
                created,
                merged_ids: Vec::new(),
                keys,
            },
        ));
        stored.push((writes.stored, writes.occurred_at_us));
        stores.extend(writes.stores);
        plans.extend(writes.plans);
        outbox.extend(writes.outbox);
        if created && links.len() > links_before {
            // How the new guest is reached: exactly the keys written for it.
            let keys: Vec<_> = links[links_before..]
                .iter()
                .map(|(k, _)| k.clone())
                .collect();
            outbox.push(announce::with_contacts(
                announce::customer_updated(&row, vec![announce::CONTACTS_PATH.to_owned()]),
                announce::guest_contacts(&row.profile, &keys),
            ));
        }
        if created {
            new_rows.push(row);
        } else {
            changed_rows.push(row);
        }
    }
    outcome.rest.sort_unstable();

    let mut batch = Writes::default();
    customers::insert_into(&mut batch, chunk.chain, &new_rows)?;
    customers::save_into(&mut batch, chunk.chain, &changed_rows)?;
    identity::link_into(&mut batch, chunk.chain, &links, now_us);
    events::insert_into(&mut batch, chunk.chain, &stored, now_us);
    customer_stores::add_stores_into(&mut batch, chunk.chain, &stores);
    followups::plans_into(&mut batch, chunk.chain, &plans, now_us);
    batch.run(conn).await?;
    if !outbox.is_empty() {
        chunk.log.append_all(conn, chunk.chain, outbox).await?;
    }
    Ok(outcome)
}
