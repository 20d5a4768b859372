//! Recording one event in its own savepoint: replay check, identity resolution (create,
//! existing, merge, blocked), the event row, aggregates, class, follow-up plans after a
//! visit, and the outbox events — all committed together or not at all. The group step
//! (`group`) runs it for every event the set-based step (`bulk`) leaves.

use maitre_proto::profile::v1::ContactEvent;
use sea_orm::ConnectionTrait;

use super::{
    apply::apply_event,
    context::{IngestContext, Recorded, new_customer_keys},
    resolve::resolve_matched,
};
use crate::{
    app::{announce, view::live_customer},
    convert::event::EventInput,
    domain::identity::IdentityKey,
    error::{Error, Result},
    storage::{customer_stores, customers, events, followups, identity, writes::Writes},
};

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
            let contacts = announce::guest_contacts(&row.profile, &resolving.keys_to_link);
            announce::with_contacts(
                announce::customer_updated(&row, vec![announce::CONTACTS_PATH.to_owned()]),
                contacts,
            )
        } else {
            announce::customer_updated_with_contacts(
                conn,
                ctx.chain,
                &row,
                vec![announce::CONTACTS_PATH.to_owned()],
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
