//! UpsertCustomer: find the customer owning any of the keys, or create one; merge the
//! customers the keys link. Profile values given fill only what is not known yet.

use chrono::Utc;
use maitre_kit::{auth::Caller, idempotency};
use maitre_proto::profile::v1::{self as pb};

use super::{ProfileServiceApi, customers::WRITERS};
use crate::{
    app::{
        announce::customer_updated_with_contacts,
        begin_write,
        classify::load_context,
        is_retryable,
        locks::{key_lock, lock_in_transaction},
        record::{IngestContext, resolve_customer},
        view::{customer_for, live_customer},
    },
    convert::{parse_keys, profile as profile_convert},
    domain::{consent::stamp_consent_changes, profile::apply_mask, resolution::IdentityGuards},
    error::{Error, Result},
    storage::{customer_stores, customers, identity, stores},
};

pub(super) async fn upsert(
    api: &ProfileServiceApi,
    caller: &Caller,
    r: pb::UpsertCustomerRequest,
) -> Result<pb::UpsertCustomerResponse> {
    let chain = caller.chain()?;
    caller.require_role(WRITERS)?;
    let keys = parse_keys("identity_keys", &r.identity_keys)?;
    if keys.keys.is_empty() {
        return Err(Error::invalid(
            "identity_keys",
            "at least one identifying key is required (a masked phone is not one)",
        ));
    }
    let store_id = r.store_id.trim().to_owned();
    if !store_id.is_empty() {
        if stores::get(&api.runtime.db, chain, &store_id)
            .await?
            .is_none()
        {
            return Err(Error::invalid(
                "store_id",
                format!("store `{store_id}` is not a store of this chain"),
            ));
        }
        caller.require_store(&store_id)?;
    }
    let patch = r.profile.unwrap_or_default();
    let paths = profile_convert::set_paths(&patch);
    let patch = profile_convert::from_proto("profile.", &patch)?;
    let class = load_context(&api.runtime.db, chain, Utc::now()).await?;
    let names: Vec<String> = keys
        .keys
        .iter()
        .map(|k| key_lock(chain, &k.canonical()))
        .collect();
    let mut attempt = 0;
    let outcome = loop {
        attempt += 1;
        let result = async {
            let txn = begin_write(&api.runtime.db).await?;
            lock_in_transaction(&txn, &names).await?;
            if let Some(first) = idempotency::recall::<pb::UpsertCustomerResponse>(
                &txn,
                chain,
                "UpsertCustomer",
                &r.request_id,
            )
            .await?
            {
                txn.rollback().await?;
                return Ok((first, None));
            }
            let guards = IdentityGuards {
                blocked_keys: std::sync::Arc::new(identity::blocked(&txn, chain).await?),
                ..IdentityGuards::default()
            };
            let now = Utc::now();
            let ctx = IngestContext {
                log: &api.runtime.events,
                chain,
                class: &class,
                guards: &guards,
                store_zone: chrono_tz::Asia::Shanghai,
                now,
            };
            let (mut row, created, merged) =
                resolve_customer(&txn, &ctx, &keys.keys, None, &store_id).await?;
            if !paths.is_empty() {
                // Values given only fill what the customer does not have yet.
                let empty: Vec<String> = paths
                    .iter()
                    .filter(|p| !has_value(&row.profile, p))
                    .cloned()
                    .collect();
                if !empty.is_empty() {
                    let before = row.profile.clone();
                    row.profile = apply_mask(&row.profile, &patch, &empty)
                        .map_err(|e| Error::field("profile.", &e))?;
                    stamp_consent_changes(&before, &mut row.profile, now.timestamp_micros());
                    // What was given at creation reaches the other services now, as an
                    // edit would (birthday greetings, consent, the guest's name).
                    let (scope, payload) = customer_updated_with_contacts(
                        &txn,
                        chain,
                        &row,
                        empty.iter().map(|p| format!("profile.{p}")).collect(),
                    )
                    .await?;
                    api.runtime
                        .events
                        .append(&txn, chain, scope, payload)
                        .await?;
                }
            }
            customer_stores::add_store(&txn, chain, &row.customer_id, &store_id).await?;
            row.updated_at_us = now.timestamp_micros();
            customers::save(&txn, chain, &row).await?;
            let response = pb::UpsertCustomerResponse {
                // Stored with the id only: a replay renders the customer for its caller.
                customer: Some(pb::Customer {
                    customer_id: row.customer_id.clone(),
                    ..pb::Customer::default()
                }),
                created,
                merged_customer_ids: merged,
            };
            idempotency::remember(&txn, chain, "UpsertCustomer", &r.request_id, &response).await?;
            txn.commit().await?;
            Ok((response, Some(row)))
        }
        .await;
        match result {
            Err(e) if attempt < 5 && is_retryable(&e) => continue,
            other => break other,
        }
    };
    let (mut response, row) = outcome?;
    api.runtime.events.committed();
    let row = match row {
        Some(row) => row,
        None => {
            // A replay: the customer as it is now.
            let id = response
                .customer
                .as_ref()
                .map(|c| c.customer_id.clone())
                .unwrap_or_default();
            live_customer(&api.runtime.db, chain, &id).await?
        }
    };
    response.customer = Some(customer_for(&api.runtime.db, chain, &row, caller).await?);
    Ok(response)
}

fn has_value(p: &crate::domain::profile::Profile, path: &str) -> bool {
    match path {
        "name" => !p.name.is_empty(),
        "gender" => !p.gender.is_empty(),
        "birthday" => p.birthday.is_some(),
        "anniversaries" => !p.anniversaries.is_empty(),
        "dietary_habits" => !p.dietary_habits.is_empty(),
        "allergies" => !p.allergies.is_empty(),
        "seat_preference" => p.seat_preference.is_some(),
        "notes" => !p.notes.is_empty(),
        "attributes" => !p.attributes.is_empty(),
        _ => false,
    }
}
