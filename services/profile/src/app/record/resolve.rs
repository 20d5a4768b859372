//! Which customer an event's identity keys name: found, created or merged
//! (`domain::resolution` decides; this applies its answer to storage).

use sea_orm::ConnectionTrait;

use super::context::{IngestContext, customer_created};
use crate::{
    app::{announce, merge::merge_into, view::live_customer},
    domain::{
        identity::IdentityKey,
        resolution::{CustomerMatch, Resolution, resolve},
    },
    error::{Error, Result},
    storage::{customer_stores, customers, customers::CustomerRow, identity},
};

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
async fn resolve_row(
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
pub(super) async fn resolve_matched(
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
        let (scope, payload) = announce::customer_updated_with_contacts(
            conn,
            ctx.chain,
            &r.row,
            vec![announce::CONTACTS_PATH.to_owned()],
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
