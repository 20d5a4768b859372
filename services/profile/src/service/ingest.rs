//! Recording one contact event inside a transaction: replay check, identity resolution
//! (create, existing, merge, blocked), the event row, aggregates, class, follow-up plans
//! after a visit, and the outbox events — all committed together or not at all.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maitre_kit::eventlog::EventLog;
use maitre_proto::{
    events::v1::{CustomerCreated, EventScope, event::Payload},
    profile::v1::ContactEvent,
};
use sea_orm::ConnectionTrait;

use super::{apply::apply_event, classify::ClassContext, merge::merge_into, view::live_customer};
use crate::{
    convert::event::EventInput,
    domain::{
        identity::IdentityKey,
        resolution::{CustomerMatch, IdentityGuards, Resolution, resolve},
    },
    error::{Error, Result},
    storage::{
        customer_stores, customers, customers::CustomerRow, events, followups, identity,
        writes::Writes,
    },
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
    /// The customer's canonical keys and stores when known without another read (a new
    /// customer: what recording wrote; group commit reads a group's at once).
    pub keys: Option<(Vec<String>, Vec<String>)>,
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

/// The customer an event's keys name, before anything about it is written: a new
/// customer (`created`) is not stored yet and `keys_to_link` are not linked yet.
pub struct Resolving {
    pub row: CustomerRow,
    pub created: bool,
    pub merged: Vec<String>,
    pub keys_to_link: Vec<IdentityKey>,
}

/// Resolves `keys` (or the named customer) to a customer; merges are written, a new
/// customer is only built.
pub async fn resolve_row(
    conn: &impl ConnectionTrait,
    ctx: &IngestContext<'_>,
    keys: &[IdentityKey],
    named_customer: Option<&str>,
    home_store_id: &str,
) -> Result<Resolving> {
    let matches = identity::matches(conn, ctx.chain, keys).await?;
    resolve_matched(conn, ctx, keys, &matches, named_customer, home_store_id).await
}

/// [`resolve_row`] given every stored link of `keys` (`matches`).
async fn resolve_matched(
    conn: &impl ConnectionTrait,
    ctx: &IngestContext<'_>,
    keys: &[IdentityKey],
    matches: &[CustomerMatch],
    named_customer: Option<&str>,
    home_store_id: &str,
) -> Result<Resolving> {
    let now_us = ctx.now.timestamp_micros();
    let resolved = resolve(keys, matches, ctx.guards);
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
                (
                    CustomerRow::new(id, home_store_id.to_owned(), now_us),
                    true,
                    Vec::new(),
                )
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
            Resolution::Blocked { key, .. } => return Err(blocked_error(&key)),
            Resolution::NoIdentity => return Err(no_identity_error()),
        }
    };
    Ok(Resolving {
        row,
        created,
        merged,
        keys_to_link: resolved.keys_to_link,
    })
}

/// The refusal of an event whose every key is set aside.
pub fn blocked_error(key: &IdentityKey) -> Error {
    Error::FailedPrecondition {
        field: "identity_keys".into(),
        message: format!(
            "identifier `{}` is blocked (block list or shared by too many customers)",
            key.kind()
        ),
    }
}

/// The refusal of an event without any identity key.
pub fn no_identity_error() -> Error {
    Error::invalid("identity_keys", "at least one identity key is required")
}

/// `CustomerCreated` of a new customer.
pub fn customer_created(row: &CustomerRow) -> (EventScope, Payload) {
    (
        EventScope {
            customer_id: row.customer_id.clone(),
            store_id: row.home_store_id.clone(),
            manager_id: String::new(),
        },
        Payload::CustomerCreated(CustomerCreated {
            customer_id: row.customer_id.clone(),
            home_store_id: row.home_store_id.clone(),
        }),
    )
}

/// The customer an event's keys name: found, created or merged; `(row, created, merged)`.
pub async fn resolve_customer(
    conn: &impl ConnectionTrait,
    ctx: &IngestContext<'_>,
    keys: &[IdentityKey],
    named_customer: Option<&str>,
    home_store_id: &str,
) -> Result<(CustomerRow, bool, Vec<String>)> {
    let r = resolve_row(conn, ctx, keys, named_customer, home_store_id).await?;
    if r.created {
        customers::insert(conn, ctx.chain, &r.row).await?;
        customer_stores::add_store(conn, ctx.chain, &r.row.customer_id, home_store_id).await?;
        let (scope, payload) = customer_created(&r.row);
        ctx.log.append(conn, ctx.chain, scope, payload).await?;
    }
    link_keys(conn, ctx, &r.keys_to_link, &r.row.customer_id).await?;
    if !r.keys_to_link.is_empty() || !r.merged.is_empty() {
        // New ways to reach the guest: notification fills its recipients from them.
        let (scope, payload) = super::announce::customer_updated_with_contacts(
            conn,
            ctx.chain,
            &r.row,
            vec![super::announce::CONTACTS_PATH.to_owned()],
        )
        .await?;
        ctx.log.append(conn, ctx.chain, scope, payload).await?;
    }
    Ok((r.row, r.created, r.merged))
}

async fn link_keys(
    conn: &impl ConnectionTrait,
    ctx: &IngestContext<'_>,
    keys: &[IdentityKey],
    customer_id: &str,
) -> Result<()> {
    let links: Vec<(IdentityKey, String)> = keys
        .iter()
        .map(|k| (k.clone(), customer_id.to_owned()))
        .collect();
    identity::link_many(conn, ctx.chain, &links, ctx.now.timestamp_micros()).await
}

/// What a replay of an event answers: the first recording of its `(channel, external_id)`
/// and that event's customer as it is now.
pub async fn replayed(
    conn: &impl ConnectionTrait,
    chain: &str,
    channel: i32,
    external_id: &str,
) -> Result<Recorded> {
    let first = events::find_external(conn, chain, channel, external_id)
        .await?
        .ok_or_else(|| Error::not_found("event", external_id))?;
    let customer = live_customer(conn, chain, &first.customer_id).await?;
    Ok(Recorded {
        event: first,
        customer,
        duplicate: true,
        created: false,
        merged_ids: Vec::new(),
        keys: None,
    })
}

/// The canonical keys and store ids of a customer created with `keys` and `stores` (what
/// [`Recorded::keys`] holds), sorted and without repeats.
pub fn new_customer_keys(
    keys: impl Iterator<Item = IdentityKey>,
    stores: &[(String, String)],
) -> (Vec<String>, Vec<String>) {
    let mut keys: Vec<String> = keys.map(|k| k.canonical()).collect();
    keys.sort();
    keys.dedup();
    let mut stores: Vec<String> = stores.iter().map(|(_, s)| s.clone()).collect();
    stores.sort();
    stores.dedup();
    (keys, stores)
}

/// Records `input` (its contract form `event`) unless `(channel, external_id)` was seen.
pub async fn record(
    conn: &impl ConnectionTrait,
    ctx: &IngestContext<'_>,
    input: &EventInput,
    event: &ContactEvent,
) -> Result<Recorded> {
    let domain = &input.validated.event;
    let matched = identity::matches_unless_recorded(
        conn,
        ctx.chain,
        &input.keys.keys,
        event.channel,
        &event.external_id,
    )
    .await?;
    let Some(matches) = matched else {
        return replayed(conn, ctx.chain, event.channel, &event.external_id).await;
    };
    let now_us = ctx.now.timestamp_micros();
    let resolving = resolve_matched(
        conn,
        ctx,
        &input.keys.keys,
        &matches,
        input.customer_id.as_deref(),
        domain.store_id.as_str(),
    )
    .await?;
    let (mut row, created) = (resolving.row, resolving.created);
    let writes = apply_event(ctx, input, event, &mut row, created);
    // Every row write of the event in one round trip (PostgreSQL); then the outbox.
    let mut batch = Writes::default();
    if created {
        customers::insert_into(&mut batch, ctx.chain, std::slice::from_ref(&row))?;
    } else {
        customers::save_into(&mut batch, ctx.chain, std::slice::from_ref(&row))?;
    }
    let links: Vec<(IdentityKey, String)> = resolving
        .keys_to_link
        .iter()
        .map(|k| (k.clone(), row.customer_id.clone()))
        .collect();
    identity::link_into(&mut batch, ctx.chain, &links, now_us);
    events::insert_into(
        &mut batch,
        ctx.chain,
        &[(writes.stored.clone(), writes.occurred_at_us)],
        now_us,
    );
    customer_stores::add_stores_into(&mut batch, ctx.chain, &writes.stores);
    followups::plans_into(&mut batch, ctx.chain, &writes.plans, now_us);
    batch.run(conn).await?;
    ctx.log.append_all(conn, ctx.chain, writes.outbox).await?;
    if !resolving.keys_to_link.is_empty() || !resolving.merged.is_empty() {
        // New ways to reach the guest (a new customer's keys are exactly those just linked).
        let event = if created {
            let contacts = super::announce::guest_contacts(&row.profile, &resolving.keys_to_link);
            super::announce::with_contacts(
                super::announce::customer_updated(
                    &row,
                    vec![super::announce::CONTACTS_PATH.to_owned()],
                ),
                contacts,
            )
        } else {
            super::announce::customer_updated_with_contacts(
                conn,
                ctx.chain,
                &row,
                vec![super::announce::CONTACTS_PATH.to_owned()],
            )
            .await?
        };
        ctx.log.append(conn, ctx.chain, event.0, event.1).await?;
    }
    // A new customer's keys and stores are exactly what was just written.
    let keys =
        created.then(|| new_customer_keys(resolving.keys_to_link.iter().cloned(), &writes.stores));
    Ok(Recorded {
        event: writes.stored,
        customer: row,
        duplicate: false,
        created,
        merged_ids: resolving.merged,
        keys,
    })
}
