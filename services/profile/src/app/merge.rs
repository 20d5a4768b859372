//! Merging customers known to be one person, and erasing one: inside the caller's
//! transaction, with the event appended to the outbox in the same transaction.
//!
//! A merge moves keys, events, store links and follow-ups to the survivor, merges the
//! aggregates (domain `Aggregates::merge`), fills the survivor's empty profile fields from
//! the absorbed, logs the merge and emits `CustomerMerged`; the absorbed rows remain only
//! as pointers to the survivor.

use maitre_kit::eventlog::EventLog;
use maitre_proto::events::v1::{CustomerErased, CustomerMerged, EventScope, event::Payload};
use sea_orm::ConnectionTrait;

use crate::{
    domain::{aggregates::Aggregates, profile::Profile},
    error::{Error, Result},
    storage::{customer_stores, customers, customers::CustomerRow, events, followups, identity},
};

/// Fills the survivor's empty profile fields from an absorbed profile.
fn fill_profile(survivor: &mut Profile, absorbed: &Profile) {
    if survivor.name.is_empty() {
        survivor.name.clone_from(&absorbed.name);
    }
    if survivor.gender.is_empty() {
        survivor.gender.clone_from(&absorbed.gender);
    }
    if survivor.birthday.is_none() {
        survivor.birthday = absorbed.birthday;
    }
    if survivor.seat_preference.is_none() {
        survivor
            .seat_preference
            .clone_from(&absorbed.seat_preference);
    }
    for (list, more) in [
        (&mut survivor.dietary_habits, &absorbed.dietary_habits),
        (&mut survivor.allergies, &absorbed.allergies),
    ] {
        for entry in more {
            if !list.contains(entry) {
                list.push(entry.clone());
            }
        }
    }
    for anniversary in &absorbed.anniversaries {
        if !survivor.anniversaries.contains(anniversary) {
            survivor.anniversaries.push(anniversary.clone());
        }
    }
    if survivor.notes.is_empty() {
        survivor.notes.clone_from(&absorbed.notes);
    }
}

/// Merges `absorbed` into `survivor` (both live customers of `chain`); returns the
/// survivor after the merge (not yet reclassified; not saved when `absorbed` is empty).
pub async fn merge_into(
    conn: &impl ConnectionTrait,
    log: &EventLog,
    chain: &str,
    survivor_id: &str,
    absorbed_ids: &[String],
    reason: &str,
    now_us: i64,
) -> Result<CustomerRow> {
    let mut survivor = customers::get_for_update(conn, chain, survivor_id)
        .await?
        .filter(|c| c.merged_into.is_none())
        .ok_or_else(|| Error::not_found("customer", survivor_id))?;
    for absorbed_id in absorbed_ids {
        let mut absorbed = customers::get_for_update(conn, chain, absorbed_id)
            .await?
            .filter(|c| c.merged_into.is_none() && c.customer_id != survivor_id)
            .ok_or_else(|| Error::not_found("customer", absorbed_id.as_str()))?;
        survivor.aggregates = Aggregates::merge(&survivor.aggregates, &absorbed.aggregates);
        survivor.bookings = survivor.bookings.saturating_add(absorbed.bookings);
        fill_profile(&mut survivor.profile, &absorbed.profile);
        if survivor.owner_manager_id.is_empty() {
            survivor
                .owner_manager_id
                .clone_from(&absorbed.owner_manager_id);
        }
        identity::repoint(conn, chain, absorbed_id, survivor_id).await?;
        events::repoint(conn, chain, absorbed_id, survivor_id).await?;
        customer_stores::repoint_stores(conn, chain, absorbed_id, survivor_id).await?;
        identity::log_merge(conn, chain, survivor_id, absorbed_id, reason, now_us).await?;
        absorbed.merged_into = Some(survivor_id.to_owned());
        absorbed.profile = Profile::default();
        absorbed.updated_at_us = now_us;
        customers::save(conn, chain, &absorbed).await?;
    }
    if absorbed_ids.is_empty() {
        return Ok(survivor);
    }
    followups::repoint(conn, chain, absorbed_ids, survivor_id).await?;
    survivor.updated_at_us = now_us;
    customers::save(conn, chain, &survivor).await?;
    log.append(
        conn,
        chain,
        EventScope {
            customer_id: survivor_id.to_owned(),
            store_id: survivor.home_store_id.clone(),
            manager_id: survivor.owner_manager_id.clone(),
        },
        Payload::CustomerMerged(CustomerMerged {
            survivor_id: survivor_id.to_owned(),
            absorbed_ids: absorbed_ids.to_vec(),
            reason: reason.to_owned(),
        }),
    )
    .await?;
    Ok(survivor)
}

/// Erases a customer's personal data: keys unlinked, profile cleared, personal fields
/// of stored events dropped; aggregates stay, anonymous. Emits `CustomerErased`.
pub async fn erase(
    conn: &impl ConnectionTrait,
    log: &EventLog,
    chain: &str,
    customer_id: &str,
    now_us: i64,
) -> Result<CustomerRow> {
    let mut row = customers::get_for_update(conn, chain, customer_id)
        .await?
        .filter(|c| c.merged_into.is_none())
        .ok_or_else(|| Error::not_found("customer", customer_id))?;
    identity::unlink_all(conn, chain, customer_id).await?;
    events::strip_personal_data(conn, chain, customer_id).await?;
    row.profile = Profile::default();
    row.erased = true;
    row.updated_at_us = now_us;
    customers::save(conn, chain, &row).await?;
    log.append(
        conn,
        chain,
        EventScope {
            customer_id: customer_id.to_owned(),
            store_id: row.home_store_id.clone(),
            manager_id: row.owner_manager_id.clone(),
        },
        Payload::CustomerErased(CustomerErased {
            customer_id: customer_id.to_owned(),
        }),
    )
    .await?;
    Ok(row)
}
