//! The `contact_events` table: every recorded contact event, as the contract's
//! `ContactEvent` bytes plus the columns queries need. `(chain, channel, external_id)` is
//! unique: it is what makes a replayed event change nothing.

use maitre_kit::db::stmt;
use maitre_proto::profile::v1::ContactEvent;
use prost::Message;
use sea_orm::{ConnectionTrait, Value};

use super::{col, count_value, from_proto, writes::Writes};
use crate::error::Result;

/// The event recorded earlier for `(channel, external_id)`, if any.
pub async fn find_external(
    conn: &impl ConnectionTrait,
    chain: &str,
    channel: i32,
    external_id: &str,
) -> Result<Option<ContactEvent>> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            "SELECT payload FROM contact_events WHERE chain_id = $1 AND channel = $2 AND external_id = $3",
            [chain.into(), channel.into(), external_id.into()],
        ))
        .await?;
    row.map(|r| {
        let bytes: Vec<u8> = col(&r, "payload")?;
        from_proto(&format!("event {channel}/{external_id}"), &bytes)
    })
    .transpose()
}

/// The latest `occurred_at` (µs) of the customer's recorded contacts other than `event_id`:
/// what the synchronous `AssignOnContact` call tells assignment, which may not have them yet.
pub async fn latest_other_contact_us(
    conn: &impl ConnectionTrait,
    chain: &str,
    customer_id: &str,
    event_id: &str,
) -> Result<Option<i64>> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            "SELECT MAX(occurred_at_us) AS latest FROM contact_events \
             WHERE chain_id = $1 AND customer_id = $2 AND event_id <> $3",
            [chain.into(), customer_id.into(), event_id.into()],
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<Option<i64>>("", "latest")?,
        None => None,
    })
}

/// Which of `externals` (`(channel, external_id)`) the chain recorded already.
pub async fn recorded_externals(
    conn: &impl ConnectionTrait,
    chain: &str,
    externals: &[(i32, String)],
) -> Result<std::collections::HashSet<(i32, String)>> {
    let mut by_channel: std::collections::BTreeMap<i32, Vec<String>> = Default::default();
    for (channel, id) in externals {
        by_channel.entry(*channel).or_default().push(id.clone());
    }
    let mut seen = std::collections::HashSet::new();
    // Per channel, so the look-up walks the (chain, channel, external_id) index.
    for (channel, ids) in by_channel {
        // One index probe per id on PostgreSQL whatever the planner's statistics say (an
        // `= ANY` on the index's last column may be applied as a filter over the whole
        // channel when the table was never analysed).
        let sql = if maitre_kit::db::is_postgres(conn) {
            "SELECT e.external_id FROM jsonb_array_elements_text($3::jsonb) AS w(x) \
             CROSS JOIN LATERAL (SELECT external_id FROM contact_events \
             WHERE chain_id = $1 AND channel = $2 AND external_id = w.x LIMIT 1) e"
        } else {
            "SELECT external_id FROM contact_events WHERE chain_id = $1 AND channel = $2 \
             AND external_id IN (SELECT value FROM json_each($3))"
        };
        let rows = conn
            .query_all_raw(stmt(
                conn,
                sql,
                [chain.into(), channel.into(), super::to_json(&ids)?],
            ))
            .await?;
        for row in rows {
            seen.insert((channel, col(&row, "external_id")?));
        }
    }
    Ok(seen)
}

/// Stores several recorded events, `(event, occurred_at_us)`, with one statement.
pub async fn insert_many(
    conn: &impl ConnectionTrait,
    chain: &str,
    events: &[(ContactEvent, i64)],
    now_us: i64,
) -> Result<()> {
    let mut writes = Writes::default();
    insert_into(&mut writes, chain, events, now_us);
    writes.run(conn).await
}

/// Adds the INSERT of recorded events, `(event, occurred_at_us)`, to `writes`.
pub fn insert_into(writes: &mut Writes, chain: &str, events: &[(ContactEvent, i64)], now_us: i64) {
    let values = events
        .iter()
        .flat_map(|(event, occurred_at_us)| event_values(chain, event, *occurred_at_us, now_us))
        .collect();
    writes.add_rows(
        "INSERT INTO contact_events (chain_id, event_id, channel, external_id, customer_id, kind, \
         store_id, occurred_at_us, amount_fen, payload, created_at_us)",
        "",
        11,
        values,
    );
}

fn event_values(
    chain: &str,
    event: &ContactEvent,
    occurred_at_us: i64,
    now_us: i64,
) -> [Value; 11] {
    let amount = event.amount.as_ref().map_or(0, |m| m.amount_fen);
    [
        chain.into(),
        event.event_id.clone().into(),
        event.channel.into(),
        event.external_id.clone().into(),
        event.customer_id.clone().into(),
        event.kind.into(),
        event.store_id.clone().into(),
        occurred_at_us.into(),
        amount.into(),
        event.encode_to_vec().into(),
        now_us.into(),
    ]
}

/// Stores a recorded event (its `event_id` and `customer_id` set).
pub async fn insert(
    conn: &impl ConnectionTrait,
    chain: &str,
    event: &ContactEvent,
    occurred_at_us: i64,
    now_us: i64,
) -> Result<()> {
    insert_many(conn, chain, &[(event.clone(), occurred_at_us)], now_us).await
}

/// A customer's events, newest first; only `kind` when non-zero.
pub async fn list_for_customer(
    conn: &impl ConnectionTrait,
    chain: &str,
    customer_id: &str,
    kind: i32,
    offset: u64,
    limit: u64,
) -> Result<Vec<ContactEvent>> {
    let mut values: Vec<Value> = vec![
        chain.into(),
        customer_id.into(),
        count_value(limit),
        count_value(offset),
    ];
    let kind_filter = if kind != 0 {
        values.push(kind.into());
        " AND kind = $5"
    } else {
        ""
    };
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT event_id, payload FROM contact_events WHERE chain_id = $1 AND customer_id = $2{kind_filter} \
                 ORDER BY occurred_at_us DESC, event_id DESC LIMIT $3 OFFSET $4"
            ),
            values,
        ))
        .await?;
    rows.iter()
        .map(|r| {
            let id: String = col(r, "event_id")?;
            let bytes: Vec<u8> = col(r, "payload")?;
            let mut event: ContactEvent = from_proto(&format!("event {id}"), &bytes)?;
            // The column follows merges; the stored bytes keep the id of the time.
            event.customer_id = customer_id.to_owned();
            Ok(event)
        })
        .collect()
}

/// Moves the events of `from` to `to` (merge: history moves with the customer).
pub async fn repoint(conn: &impl ConnectionTrait, chain: &str, from: &str, to: &str) -> Result<()> {
    conn.execute_raw(stmt(
        conn,
        "UPDATE contact_events SET customer_id = $3 WHERE chain_id = $1 AND customer_id = $2",
        [chain.into(), from.into(), to.into()],
    ))
    .await?;
    Ok(())
}

/// Drops the personal data (identity keys, notes) from a customer's stored events
/// (erasure); amounts, dishes and times stay for the anonymous aggregates.
pub async fn strip_personal_data(
    conn: &impl ConnectionTrait,
    chain: &str,
    customer_id: &str,
) -> Result<()> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT event_id, payload FROM contact_events WHERE chain_id = $1 AND customer_id = $2",
            [chain.into(), customer_id.into()],
        ))
        .await?;
    for row in rows {
        let id: String = col(&row, "event_id")?;
        let bytes: Vec<u8> = col(&row, "payload")?;
        let mut event: ContactEvent = from_proto(&format!("event {id}"), &bytes)?;
        event.identity_keys.clear();
        event.note.clear();
        conn.execute_raw(stmt(
            conn,
            "UPDATE contact_events SET payload = $3 WHERE chain_id = $1 AND event_id = $2",
            [chain.into(), id.into(), event.encode_to_vec().into()],
        ))
        .await?;
    }
    Ok(())
}
