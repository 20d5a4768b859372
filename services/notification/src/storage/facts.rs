//! What the service knows about customers from other services' events (`notif_customer_facts`): tags
//! (tagging), owner manager (assignment), birthday, class and who the guest is (profile: name,
//! gender, favourites, as the `guest` JSON). Automations read conditions and the owner to remind
//! from here; messages read the guest's values (`guests`).

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use chrono::Utc;
use sea_orm::ConnectionTrait;

use super::{exec, query_all, query_one};
use crate::domain::guest::Guest;
use crate::error::{Error, Result};
use maitre_kit::db::{DbError, is_postgres};

/// The facts about one customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerFacts {
    pub customer_id: String,
    pub tags: BTreeSet<String>,
    pub owner_id: String,
    /// `YYYY-MM-DD`, empty when unknown.
    pub birthday: String,
    /// `A`, `B`, `C` or empty.
    pub class: String,
    /// Who the guest is, as profile told.
    pub guest: GuestFacts,
}

/// Who the guest is, from profile's `CustomerCreated` / `CustomerUpdated`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GuestFacts {
    /// Profile has told this service of the guest: their messages need not wait for its stream.
    pub known: bool,
    pub name: String,
    pub gender: String,
    pub favourite_dish: String,
    pub favourite_category: String,
    /// Where the guest is reached (profile's `CustomerUpdated.contacts`).
    pub contacts: crate::domain::contacts::Contacts,
}

fn guest_from_json(customer_id: &str, json: &str) -> Result<GuestFacts> {
    serde_json::from_str(json).map_err(|e| {
        Error::Db(DbError::Corrupt {
            what: format!("guest facts of {customer_id}"),
            reason: e.to_string(),
        })
    })
}

/// The customer's facts (empty when nothing is known yet).
pub async fn get(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<CustomerFacts> {
    read(conn, chain_id, customer_id, "").await
}

/// The customer's facts, the row read with `lock` appended to the SELECT.
async fn read(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    lock: &str,
) -> Result<CustomerFacts> {
    let row = query_one(
        conn,
        &format!(
            "SELECT tags, owner_id, birthday, class, guest FROM notif_customer_facts \
             WHERE chain_id = $1 AND customer_id = $2{lock}"
        ),
        [chain_id.into(), customer_id.into()],
    )
    .await?;
    let Some(row) = row else {
        return Ok(CustomerFacts {
            customer_id: customer_id.to_owned(),
            ..CustomerFacts::default()
        });
    };
    let tags: String = row.try_get("", "tags")?;
    let guest: String = row.try_get("", "guest")?;
    Ok(CustomerFacts {
        customer_id: customer_id.to_owned(),
        tags: serde_json::from_str(&tags).map_err(|e| {
            Error::Db(DbError::Corrupt {
                what: format!("tags of {customer_id}"),
                reason: e.to_string(),
            })
        })?,
        owner_id: row.try_get("", "owner_id")?,
        birthday: row.try_get("", "birthday")?,
        class: row.try_get("", "class")?,
        guest: guest_from_json(customer_id, &guest)?,
    })
}

/// The customer's facts, locked until the transaction ends: for a read-modify-write. The three
/// streams (tagging, assignment, profile) are consumed side by side, each writing its own facts of
/// the same guest; without the lock, two consumers would each write back the row they read and
/// the first one's fact would be lost. The row is created first so there is one to lock (on SQLite
/// the write transaction already serializes writers).
pub async fn get_for_update(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<CustomerFacts> {
    exec(
        conn,
        "INSERT INTO notif_customer_facts (chain_id, customer_id, tags, owner_id, birthday, class, update_time_us)
         VALUES ($1, $2, '[]', '', '', '', $3) ON CONFLICT (chain_id, customer_id) DO NOTHING",
        [
            chain_id.into(),
            customer_id.into(),
            Utc::now().timestamp_micros().into(),
        ],
    )
    .await?;
    // Read and locked in one statement.
    let lock = if is_postgres(conn) { " FOR UPDATE" } else { "" };
    read(conn, chain_id, customer_id, lock).await
}

/// Changes the customer's facts under [`get_for_update`]'s lock and stores them; returns them.
pub async fn update(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    change: impl FnOnce(&mut CustomerFacts),
) -> Result<CustomerFacts> {
    let mut known = get_for_update(conn, chain_id, customer_id).await?;
    change(&mut known);
    put(conn, chain_id, &known).await?;
    Ok(known)
}

/// Waits for every transaction that has written customer facts to commit, and holds new
/// writers until the caller's transaction ends (PostgreSQL; SQLite writers are serialized
/// by their write transactions already).
pub async fn fence_writers(conn: &impl ConnectionTrait) -> Result<()> {
    if is_postgres(conn) {
        exec(conn, "LOCK TABLE notif_customer_facts IN SHARE MODE", []).await?;
    }
    Ok(())
}

/// Stores the customer's facts (read with [`get_for_update`] in the same transaction).
pub async fn put(conn: &impl ConnectionTrait, chain_id: &str, facts: &CustomerFacts) -> Result<()> {
    let tags = serde_json::to_string(&facts.tags).unwrap_or_else(|_| "[]".into());
    let guest = serde_json::to_string(&facts.guest).unwrap_or_else(|_| "{}".into());
    exec(
        conn,
        "INSERT INTO notif_customer_facts (chain_id, customer_id, tags, owner_id, birthday, class, update_time_us, guest, phone_e164)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (chain_id, customer_id) DO UPDATE SET tags = excluded.tags, owner_id = excluded.owner_id,
           birthday = excluded.birthday, class = excluded.class, update_time_us = excluded.update_time_us,
           guest = excluded.guest, phone_e164 = excluded.phone_e164",
        [
            chain_id.into(),
            facts.customer_id.clone().into(),
            tags.into(),
            facts.owner_id.clone().into(),
            facts.birthday.clone().into(),
            facts.class.clone().into(),
            Utc::now().timestamp_micros().into(),
            guest.into(),
            // Indexed: an inbound SMS names its sender by phone (`customer_by_phone`).
            facts.guest.contacts.phone_e164.clone().into(),
        ],
    )
    .await?;
    Ok(())
}

/// The chain's guest reached at `phone_e164` (an inbound SMS's sender), if profile told of one;
/// the most recently updated when several share the number.
pub async fn customer_by_phone(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    phone_e164: &str,
) -> Result<Option<String>> {
    if phone_e164.is_empty() {
        return Ok(None);
    }
    let row = query_one(
        conn,
        "SELECT customer_id FROM notif_customer_facts WHERE chain_id = $1 AND phone_e164 = $2 \
         ORDER BY update_time_us DESC LIMIT 1",
        [chain_id.into(), phone_e164.into()],
    )
    .await?;
    row.map(|r| r.try_get("", "customer_id").map_err(Error::from))
        .transpose()
}

/// What is known of one guest under two merged profiles: the survivor's facts, completed
/// by the absorbed one's (a birthday, class or owner the survivor lacks; every tag). Tagging,
/// profile and assignment correct them with their own events after the merge.
pub fn merged(survivor: &CustomerFacts, absorbed: &CustomerFacts) -> CustomerFacts {
    let or = |ours: &String, theirs: &String| {
        if ours.is_empty() {
            theirs.clone()
        } else {
            ours.clone()
        }
    };
    CustomerFacts {
        customer_id: survivor.customer_id.clone(),
        tags: survivor.tags.union(&absorbed.tags).cloned().collect(),
        owner_id: or(&survivor.owner_id, &absorbed.owner_id),
        birthday: or(&survivor.birthday, &absorbed.birthday),
        class: or(&survivor.class, &absorbed.class),
        guest: if survivor.guest.known {
            survivor.guest.clone()
        } else {
            absorbed.guest.clone()
        },
    }
}

/// What messages say of `customers` of the chain (one statement per chunk): the guest facts with
/// the name of their home store. Customers this service holds no facts of are absent; `known` of
/// the facts says whether profile has told of them yet.
pub async fn guests(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customers: &[&str],
) -> Result<HashMap<String, (GuestFacts, Guest)>> {
    let mut found = HashMap::with_capacity(customers.len());
    for chunk in customers.chunks(super::queue::ROWS_PER_STATEMENT) {
        let rows = query_all(
            conn,
            &format!(
                "SELECT f.customer_id, f.birthday, f.class, f.guest, COALESCE(s.name, '') AS store_name
                   FROM notif_customer_facts f
                   LEFT JOIN notif_customer_stores c
                     ON c.chain_id = f.chain_id AND c.customer_id = f.customer_id
                   LEFT JOIN notif_stores s ON s.chain_id = c.chain_id AND s.store_id = c.store_id
                 WHERE f.chain_id = $1 AND f.customer_id IN ({})",
                super::queue::placeholders(2, chunk.len())
            ),
            std::iter::once(chain_id.into()).chain(chunk.iter().map(|c| (*c).into())),
        )
        .await?;
        for row in rows {
            let customer_id: String = row.try_get("", "customer_id")?;
            let json: String = row.try_get("", "guest")?;
            let facts = guest_from_json(&customer_id, &json)?;
            let guest = Guest {
                name: facts.name.clone(),
                gender: facts.gender.clone(),
                favourite_dish: facts.favourite_dish.clone(),
                favourite_category: facts.favourite_category.clone(),
                birthday: row.try_get("", "birthday")?,
                class: row.try_get("", "class")?,
                store_name: row.try_get("", "store_name")?,
            };
            found.insert(customer_id, (facts, guest));
        }
    }
    Ok(found)
}

/// What messages say of one guest; `None` until profile has told this service of them.
pub async fn guest(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<Option<Guest>> {
    Ok(guests(conn, chain_id, &[customer_id])
        .await?
        .remove(customer_id)
        .filter(|(facts, _)| facts.known)
        .map(|(_, guest)| guest))
}

/// Forgets what is known of the customer (their personal data was erased, or they were
/// merged into another): no birthday, tags or owner remain for automations to act on.
pub async fn erase(conn: &impl ConnectionTrait, chain_id: &str, customer_id: &str) -> Result<()> {
    exec(
        conn,
        "DELETE FROM notif_customer_facts WHERE chain_id = $1 AND customer_id = $2",
        [chain_id.into(), customer_id.into()],
    )
    .await?;
    Ok(())
}

/// Customers of the chain with a known birthday, after `after` by id (the daily scan pages through them).
pub async fn with_birthday(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    after: &str,
    limit: u64,
) -> Result<Vec<CustomerFacts>> {
    let rows = query_all(
        conn,
        "SELECT customer_id FROM notif_customer_facts WHERE chain_id = $1 AND birthday <> '' AND customer_id > $2
         ORDER BY customer_id LIMIT $3",
        [
            chain_id.into(),
            after.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    )
    .await?;
    let mut facts = Vec::new();
    for row in rows {
        let customer_id: String = row.try_get("", "customer_id")?;
        facts.push(get(conn, chain_id, &customer_id).await?);
    }
    Ok(facts)
}

/// Whether any of the streams has told this service about the customer (a facts row exists).
pub async fn known(conn: &impl ConnectionTrait, chain_id: &str, customer_id: &str) -> Result<bool> {
    let row = query_one(
        conn,
        "SELECT 1 AS known FROM notif_customer_facts WHERE chain_id = $1 AND customer_id = $2",
        [chain_id.into(), customer_id.into()],
    )
    .await?;
    Ok(row.is_some())
}

/// [`get_for_update`] for several customers at once (rows created first, then read and locked
/// in one statement, in customer order).
pub async fn get_many_for_update(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customers: &[String],
) -> Result<HashMap<String, CustomerFacts>> {
    let now_us = Utc::now().timestamp_micros();
    let lock = if is_postgres(conn) { " FOR UPDATE" } else { "" };
    let mut found = HashMap::with_capacity(customers.len());
    for chunk in customers.chunks(super::queue::ROWS_PER_STATEMENT / 4) {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 3);
        for customer in chunk {
            values.extend([chain_id.into(), customer.clone().into(), now_us.into()]);
        }
        let rows = (0..chunk.len())
            .map(|i| {
                format!(
                    "(${}, ${}, '[]', '', '', '', ${})",
                    3 * i + 1,
                    3 * i + 2,
                    3 * i + 3
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        exec(
            conn,
            &format!(
                "INSERT INTO notif_customer_facts (chain_id, customer_id, tags, owner_id, birthday, class, update_time_us)
                 VALUES {rows} ON CONFLICT (chain_id, customer_id) DO NOTHING"
            ),
            values,
        )
        .await?;
        let rows = query_all(
            conn,
            &format!(
                "SELECT customer_id, tags, owner_id, birthday, class, guest FROM notif_customer_facts
                 WHERE chain_id = $1 AND customer_id IN ({}) ORDER BY customer_id{lock}",
                super::queue::placeholders(2, chunk.len())
            ),
            std::iter::once(chain_id.into()).chain(chunk.iter().map(|c| c.clone().into())),
        )
        .await?;
        for row in rows {
            let customer_id: String = row.try_get("", "customer_id")?;
            let tags: String = row.try_get("", "tags")?;
            let guest: String = row.try_get("", "guest")?;
            let facts = CustomerFacts {
                tags: serde_json::from_str(&tags).map_err(|e| {
                    Error::Db(DbError::Corrupt {
                        what: format!("tags of {customer_id}"),
                        reason: e.to_string(),
                    })
                })?,
                owner_id: row.try_get("", "owner_id")?,
                birthday: row.try_get("", "birthday")?,
                class: row.try_get("", "class")?,
                guest: guest_from_json(&customer_id, &guest)?,
                customer_id: customer_id.clone(),
            };
            found.insert(customer_id, facts);
        }
    }
    Ok(found)
}

/// [`put`] for several customers at once (each listed once).
pub async fn put_many(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    facts: &[&CustomerFacts],
) -> Result<()> {
    let now_us = Utc::now().timestamp_micros();
    for chunk in facts.chunks(super::queue::ROWS_PER_STATEMENT / 8) {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 8);
        for f in chunk {
            values.extend([
                chain_id.into(),
                f.customer_id.clone().into(),
                serde_json::to_string(&f.tags)
                    .unwrap_or_else(|_| "[]".into())
                    .into(),
                f.owner_id.clone().into(),
                f.birthday.clone().into(),
                f.class.clone().into(),
                now_us.into(),
                serde_json::to_string(&f.guest)
                    .unwrap_or_else(|_| "{}".into())
                    .into(),
            ]);
        }
        exec(
            conn,
            &format!(
                "INSERT INTO notif_customer_facts (chain_id, customer_id, tags, owner_id, birthday, class, update_time_us, guest)
                 VALUES {} ON CONFLICT (chain_id, customer_id) DO UPDATE SET tags = excluded.tags,
                   owner_id = excluded.owner_id, birthday = excluded.birthday, class = excluded.class,
                   update_time_us = excluded.update_time_us, guest = excluded.guest",
                maitre_kit::db::value_rows(chunk.len(), 8)
            ),
            values,
        )
        .await?;
    }
    Ok(())
}
