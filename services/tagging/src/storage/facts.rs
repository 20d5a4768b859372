//! What rules read about customers, consumed from profile's stream: `tag_customer` (the
//! dense per-chain number for bitmaps, birthday, class, erasure), `tag_customer_attribute`
//! and `tag_visit`, plus `tag_chain` (the number counter and the roster version that tells
//! replicas their bitmap universe is stale). Only the profile consumer writes these, one
//! event at a time, so numbers are allocated and committed in order.

use maitre_kit::db::{is_postgres, stmt};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};

use super::col;

/// Separates dish categories inside `tag_visit.dish_categories` (never in a category name
/// a channel would send; an empty entry is a dish line with no category).
const CATEGORY_SEPARATOR: char = '\u{1f}';

#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRow {
    pub customer_id: String,
    pub number: u32,
    /// (month, day), when known.
    pub birthday: Option<(u32, u32)>,
    pub class: Option<String>,
    pub attributes: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VisitRow {
    pub customer_id: String,
    pub day: i32,
    pub amount_fen: i64,
    pub store_id: String,
    /// One entry per dish line; `None` for a dish without a category.
    pub dish_categories: Vec<Option<String>>,
}

fn number_of(value: i64) -> Result<u32, DbErr> {
    u32::try_from(value).map_err(|_| DbErr::Custom(format!("customer number {value} out of range")))
}

pub(crate) async fn ensure_chain(conn: &impl ConnectionTrait, chain_id: &str) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO tag_chain (chain_id, next_number, roster_version, time_rules_day) VALUES ($1, 0, 0, 0)
         ON CONFLICT (chain_id) DO NOTHING",
        [chain_id.into()],
    ))
    .await?;
    Ok(())
}

/// The customer's number, allocating the next one for a new customer; `None` for an
/// erased customer (their events change nothing).
pub async fn ensure_customer(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    now_us: i64,
) -> Result<Option<u32>, DbErr> {
    // On PostgreSQL the row lock serialises this customer's live evaluation with a
    // recompute batch covering it (see `lock_range`), so neither writes from stale facts.
    let lock = if is_postgres(conn) { " FOR UPDATE" } else { "" };
    let existing = conn
        .query_one_raw(stmt(
            conn,
            &format!("SELECT number, erased FROM tag_customer WHERE chain_id = $1 AND customer_id = $2{lock}"),
            [chain_id.into(), customer_id.into()],
        ))
        .await?;
    if let Some(row) = existing {
        let erased: i64 = col(&row, 1)?;
        return if erased != 0 {
            Ok(None)
        } else {
            Ok(Some(number_of(col(&row, 0)?)?))
        };
    }
    ensure_chain(conn, chain_id).await?;
    let row = conn
        .query_one_raw(stmt(
            conn,
            "UPDATE tag_chain SET next_number = next_number + 1 WHERE chain_id = $1 RETURNING next_number",
            [chain_id.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom(format!("tag_chain row of {chain_id} missing")))?;
    let number = col::<i64>(&row, 0)? - 1;
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO tag_customer (chain_id, customer_id, number, birthday_month, birthday_day, class, erased, updated_at_us)
         VALUES ($1, $2, $3, 0, 0, NULL, 0, $4)",
        [chain_id.into(), customer_id.into(), number.into(), now_us.into()],
    ))
    .await?;
    Ok(Some(number_of(number)?))
}

/// True for a customer erased in profile (their later events change nothing); false for
/// one not known yet. Locks a known customer's row for the transaction (PostgreSQL), as
/// [`ensure_customer`] does, so a consumer of another stream changing their facts and the
/// profile consumer evaluate one after the other, each seeing the other's facts. For a
/// customer not visible yet it first waits for the chain's counter row, which a profile
/// consumer creating them holds until it commits (it may be creating the row itself), then
/// looks again: of two evaluations at once, one sees both facts.
pub async fn lock_customer_erased(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<bool, DbErr> {
    let postgres = is_postgres(conn);
    let lock = if postgres { " FOR UPDATE" } else { "" };
    let find = || {
        conn.query_one_raw(stmt(
            conn,
            &format!(
                "SELECT erased FROM tag_customer WHERE chain_id = $1 AND customer_id = $2{lock}"
            ),
            [chain_id.into(), customer_id.into()],
        ))
    };
    let mut row = find().await?;
    if row.is_none() && postgres {
        // Inserting waits for a transaction inserting the chain's first row; locking waits for
        // one allocating a number.
        ensure_chain(conn, chain_id).await?;
        conn.query_one_raw(stmt(
            conn,
            "SELECT next_number FROM tag_chain WHERE chain_id = $1 FOR UPDATE",
            [chain_id.into()],
        ))
        .await?;
        row = find().await?;
    }
    Ok(match row {
        Some(row) => col::<i64>(&row, 0)? != 0,
        None => false,
    })
}

pub async fn set_birthday(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    birthday: Option<(u32, u32)>,
) -> Result<(), DbErr> {
    let (month, day) = birthday.unwrap_or((0, 0));
    conn.execute_raw(stmt(
        conn,
        "UPDATE tag_customer SET birthday_month = $3, birthday_day = $4 WHERE chain_id = $1 AND customer_id = $2",
        [chain_id.into(), customer_id.into(), i64::from(month).into(), i64::from(day).into()],
    ))
    .await?;
    Ok(())
}

pub async fn set_class(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    class: Option<&str>,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "UPDATE tag_customer SET class = $3 WHERE chain_id = $1 AND customer_id = $2",
        [
            chain_id.into(),
            customer_id.into(),
            Value::String(class.map(str::to_owned)),
        ],
    ))
    .await?;
    Ok(())
}

/// Profile sends the attributes after the change: they replace what was stored.
pub async fn replace_attributes(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
    attributes: &[(String, String)],
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "DELETE FROM tag_customer_attribute WHERE chain_id = $1 AND customer_id = $2",
        [chain_id.into(), customer_id.into()],
    ))
    .await?;
    for (name, value) in attributes {
        conn.execute_raw(stmt(
            conn,
            "INSERT INTO tag_customer_attribute (chain_id, customer_id, name, value) VALUES ($1, $2, $3, $4)",
            [chain_id.into(), customer_id.into(), name.clone().into(), value.clone().into()],
        ))
        .await?;
    }
    Ok(())
}

/// Records a visit once per profile event id (replays insert nothing).
pub async fn insert_visit(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    event_id: &str,
    visit: &VisitRow,
) -> Result<(), DbErr> {
    let categories: Vec<&str> = visit
        .dish_categories
        .iter()
        .map(|c| c.as_deref().unwrap_or(""))
        .collect();
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO tag_visit (chain_id, customer_id, event_id, day, amount_fen, store_id, dish_categories, dish_lines)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (chain_id, customer_id, event_id) DO NOTHING",
        [
            chain_id.into(),
            visit.customer_id.clone().into(),
            event_id.into(),
            i64::from(visit.day).into(),
            visit.amount_fen.into(),
            visit.store_id.clone().into(),
            categories.join(&CATEGORY_SEPARATOR.to_string()).into(),
            (visit.dish_categories.len() as i64).into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Moves an absorbed customer's visits to the survivor of a merge.
pub async fn move_visits(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    from_customer: &str,
    to_customer: &str,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO tag_visit (chain_id, customer_id, event_id, day, amount_fen, store_id, dish_categories, dish_lines)
         SELECT chain_id, $3, event_id, day, amount_fen, store_id, dish_categories, dish_lines
         FROM tag_visit WHERE chain_id = $1 AND customer_id = $2
         ON CONFLICT (chain_id, customer_id, event_id) DO NOTHING",
        [chain_id.into(), from_customer.into(), to_customer.into()],
    ))
    .await?;
    Ok(())
}

/// Forgets a customer's facts (erasure, or absorbed by a merge); the number is never reused.
pub async fn erase_customer(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<(), DbErr> {
    for sql in [
        "DELETE FROM tag_visit WHERE chain_id = $1 AND customer_id = $2",
        "DELETE FROM tag_customer_attribute WHERE chain_id = $1 AND customer_id = $2",
        "UPDATE tag_customer SET erased = 1, birthday_month = 0, birthday_day = 0, class = NULL WHERE chain_id = $1 AND customer_id = $2",
    ] {
        conn.execute_raw(stmt(conn, sql, [chain_id.into(), customer_id.into()]))
            .await?;
    }
    conn.execute_raw(stmt(
        conn,
        "UPDATE tag_chain SET roster_version = roster_version + 1 WHERE chain_id = $1",
        [chain_id.into()],
    ))
    .await?;
    Ok(())
}

fn customer_from_row(row: &QueryResult) -> Result<CustomerRow, DbErr> {
    let month: i64 = col(row, 2)?;
    let day: i64 = col(row, 3)?;
    let birthday = match (u32::try_from(month), u32::try_from(day)) {
        (Ok(m), Ok(d)) if m > 0 && d > 0 => Some((m, d)),
        _ => None,
    };
    Ok(CustomerRow {
        customer_id: col(row, 0)?,
        number: number_of(col(row, 1)?)?,
        birthday,
        class: col(row, 4)?,
        attributes: Vec::new(),
    })
}

fn visit_from_row(row: &QueryResult) -> Result<VisitRow, DbErr> {
    let categories: String = col(row, 4)?;
    let lines: i64 = col(row, 5)?;
    let dish_categories = if lines == 0 {
        Vec::new()
    } else {
        categories
            .split(CATEGORY_SEPARATOR)
            .map(|c| (!c.is_empty()).then(|| c.to_owned()))
            .collect()
    };
    Ok(VisitRow {
        customer_id: col(row, 0)?,
        day: i32::try_from(col::<i64>(row, 1)?).unwrap_or(i32::MIN),
        amount_fen: col(row, 2)?,
        store_id: col(row, 3)?,
        dish_categories,
    })
}

/// The customer (not erased), with attributes.
pub async fn find_customer(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<Option<CustomerRow>, DbErr> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            "SELECT customer_id, number, birthday_month, birthday_day, class FROM tag_customer
             WHERE chain_id = $1 AND customer_id = $2 AND erased = 0",
            [chain_id.into(), customer_id.into()],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let mut customer = customer_from_row(&row)?;
    let attrs = conn
        .query_all_raw(stmt(
            conn,
            "SELECT name, value FROM tag_customer_attribute WHERE chain_id = $1 AND customer_id = $2 ORDER BY name",
            [chain_id.into(), customer_id.into()],
        ))
        .await?;
    for a in &attrs {
        customer.attributes.push((col(a, 0)?, col(a, 1)?));
    }
    Ok(Some(customer))
}

pub async fn visits_of(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<Vec<VisitRow>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT customer_id, day, amount_fen, store_id, dish_categories, dish_lines FROM tag_visit
             WHERE chain_id = $1 AND customer_id = $2 ORDER BY day",
            [chain_id.into(), customer_id.into()],
        ))
        .await?;
    rows.iter().map(visit_from_row).collect()
}

/// Customers (not erased) numbered in `[from, to)`, by number, with attributes.
pub async fn customers_in_range(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    from: u32,
    to: u32,
) -> Result<Vec<CustomerRow>, DbErr> {
    let range = [
        chain_id.into(),
        i64::from(from).into(),
        i64::from(to).into(),
    ];
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT customer_id, number, birthday_month, birthday_day, class FROM tag_customer
             WHERE chain_id = $1 AND number >= $2 AND number < $3 AND erased = 0 ORDER BY number",
            range.clone(),
        ))
        .await?;
    let mut customers: Vec<CustomerRow> = rows
        .iter()
        .map(customer_from_row)
        .collect::<Result<_, _>>()?;
    let attrs = conn
        .query_all_raw(stmt(
            conn,
            "SELECT a.customer_id, a.name, a.value FROM tag_customer_attribute a
             JOIN tag_customer c ON c.chain_id = a.chain_id AND c.customer_id = a.customer_id
             WHERE a.chain_id = $1 AND c.number >= $2 AND c.number < $3 ORDER BY a.name",
            range,
        ))
        .await?;
    let index: std::collections::HashMap<String, usize> = customers
        .iter()
        .enumerate()
        .map(|(i, c)| (c.customer_id.clone(), i))
        .collect();
    for a in &attrs {
        let customer: String = col(a, 0)?;
        if let Some(&i) = index.get(&customer) {
            customers[i].attributes.push((col(a, 1)?, col(a, 2)?));
        }
    }
    Ok(customers)
}

/// Visits of the customers numbered in `[from, to)`.
pub async fn visits_in_range(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    from: u32,
    to: u32,
) -> Result<Vec<VisitRow>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT v.customer_id, v.day, v.amount_fen, v.store_id, v.dish_categories, v.dish_lines
             FROM tag_visit v JOIN tag_customer c ON c.chain_id = v.chain_id AND c.customer_id = v.customer_id
             WHERE v.chain_id = $1 AND c.number >= $2 AND c.number < $3 ORDER BY v.day",
            [chain_id.into(), i64::from(from).into(), i64::from(to).into()],
        ))
        .await?;
    rows.iter().map(visit_from_row).collect()
}

/// Locks the customers numbered in `[from, to)` for the transaction (PostgreSQL; SQLite
/// transactions of this service are IMMEDIATE and serialised already).
pub async fn lock_range(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    from: u32,
    to: u32,
) -> Result<(), DbErr> {
    if !is_postgres(conn) {
        return Ok(());
    }
    conn.query_all_raw(stmt(
        conn,
        "SELECT number FROM tag_customer WHERE chain_id = $1 AND number >= $2 AND number < $3 ORDER BY number FOR UPDATE",
        [chain_id.into(), i64::from(from).into(), i64::from(to).into()],
    ))
    .await?;
    Ok(())
}

// ---- A run of profile events about many guests: read and written a statement per table.

/// The stored rows of `customer_ids` (erased ones too, without attributes), with whether each
/// is erased, locked for the transaction on PostgreSQL in number order (the order
/// [`lock_range`] takes), as [`ensure_customer`] locks one.
pub async fn lock_customers(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_ids: &[String],
) -> Result<Vec<(CustomerRow, bool)>, DbErr> {
    if customer_ids.is_empty() {
        return Ok(Vec::new());
    }
    let lock = if is_postgres(conn) { " FOR UPDATE" } else { "" };
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT customer_id, number, birthday_month, birthday_day, class, erased FROM tag_customer
                 WHERE chain_id = $1 AND customer_id IN ({}) ORDER BY number{lock}",
                super::in_list(2, customer_ids.len())
            ),
            super::chain_and(chain_id, customer_ids),
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((customer_from_row(r)?, col::<i64>(r, 5)? != 0)))
        .collect()
}

/// Allocates `count` consecutive customer numbers; returns the first.
pub async fn allocate_numbers(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    count: u32,
) -> Result<u32, DbErr> {
    ensure_chain(conn, chain_id).await?;
    let row = conn
        .query_one_raw(stmt(
            conn,
            "UPDATE tag_chain SET next_number = next_number + $2 WHERE chain_id = $1 RETURNING next_number",
            [chain_id.into(), i64::from(count).into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom(format!("tag_chain row of {chain_id} missing")))?;
    number_of(col::<i64>(&row, 0)? - i64::from(count))
}

/// Writes customers' rows: new ones whole (not erased, `now_us` as their creation), known
/// ones' birthday and class.
pub async fn upsert_customers(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customers: &[&CustomerRow],
    now_us: i64,
) -> Result<(), DbErr> {
    for chunk in customers.chunks(super::ROWS_PER_STATEMENT) {
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 8);
        for c in chunk {
            let (month, day) = c.birthday.unwrap_or((0, 0));
            values.extend([
                chain_id.into(),
                c.customer_id.clone().into(),
                i64::from(c.number).into(),
                i64::from(month).into(),
                i64::from(day).into(),
                Value::String(c.class.clone()),
                0i64.into(),
                now_us.into(),
            ]);
        }
        conn.execute_raw(stmt(
            conn,
            &format!(
                "INSERT INTO tag_customer (chain_id, customer_id, number, birthday_month, birthday_day, class, erased, updated_at_us)
                 VALUES {} ON CONFLICT (chain_id, customer_id) DO UPDATE SET birthday_month = excluded.birthday_month,
                 birthday_day = excluded.birthday_day, class = excluded.class",
                maitre_kit::db::value_rows(chunk.len(), 8)
            ),
            values,
        ))
        .await?;
    }
    Ok(())
}

/// [`replace_attributes`] for several customers at once.
pub async fn replace_attributes_of(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    attributes: &[(String, Vec<(String, String)>)],
) -> Result<(), DbErr> {
    for chunk in attributes.chunks(super::ROWS_PER_STATEMENT) {
        let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
        conn.execute_raw(stmt(
            conn,
            &format!(
                "DELETE FROM tag_customer_attribute WHERE chain_id = $1 AND customer_id IN ({})",
                super::in_list(2, ids.len())
            ),
            super::chain_and(chain_id, &ids),
        ))
        .await?;
    }
    let rows: Vec<(&String, &String, &String)> = attributes
        .iter()
        .flat_map(|(id, attrs)| attrs.iter().map(move |(n, v)| (id, n, v)))
        .collect();
    for chunk in rows.chunks(super::ROWS_PER_STATEMENT) {
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 4);
        for (id, name, value) in chunk {
            values.extend([
                chain_id.into(),
                (*id).clone().into(),
                (*name).clone().into(),
                (*value).clone().into(),
            ]);
        }
        conn.execute_raw(stmt(
            conn,
            &format!(
                "INSERT INTO tag_customer_attribute (chain_id, customer_id, name, value) VALUES {}
                 ON CONFLICT (chain_id, customer_id, name) DO UPDATE SET value = excluded.value",
                maitre_kit::db::value_rows(chunk.len(), 4)
            ),
            values,
        ))
        .await?;
    }
    Ok(())
}

/// [`insert_visit`] for several visits at once: `(profile event id, visit)`.
pub async fn insert_visits(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    visits: &[(String, VisitRow)],
) -> Result<(), DbErr> {
    for chunk in visits.chunks(super::ROWS_PER_STATEMENT) {
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 8);
        for (event_id, visit) in chunk {
            let categories: Vec<&str> = visit
                .dish_categories
                .iter()
                .map(|c| c.as_deref().unwrap_or(""))
                .collect();
            values.extend([
                chain_id.into(),
                visit.customer_id.clone().into(),
                event_id.clone().into(),
                i64::from(visit.day).into(),
                visit.amount_fen.into(),
                visit.store_id.clone().into(),
                categories.join(&CATEGORY_SEPARATOR.to_string()).into(),
                (visit.dish_categories.len() as i64).into(),
            ]);
        }
        conn.execute_raw(stmt(
            conn,
            &format!(
                "INSERT INTO tag_visit (chain_id, customer_id, event_id, day, amount_fen, store_id, dish_categories, dish_lines)
                 VALUES {} ON CONFLICT (chain_id, customer_id, event_id) DO NOTHING",
                maitre_kit::db::value_rows(chunk.len(), 8)
            ),
            values,
        ))
        .await?;
    }
    Ok(())
}

/// The customers among `customer_ids` who are not erased, with attributes, as [`find_customer`].
pub async fn customers_of(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_ids: &[String],
) -> Result<Vec<CustomerRow>, DbErr> {
    if customer_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = super::in_list(2, customer_ids.len());
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT customer_id, number, birthday_month, birthday_day, class FROM tag_customer
                 WHERE chain_id = $1 AND customer_id IN ({list}) AND erased = 0 ORDER BY number"
            ),
            super::chain_and(chain_id, customer_ids),
        ))
        .await?;
    let mut customers: Vec<CustomerRow> = rows
        .iter()
        .map(customer_from_row)
        .collect::<Result<_, _>>()?;
    let attrs = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT customer_id, name, value FROM tag_customer_attribute
                 WHERE chain_id = $1 AND customer_id IN ({list}) ORDER BY name"
            ),
            super::chain_and(chain_id, customer_ids),
        ))
        .await?;
    let index: std::collections::HashMap<String, usize> = customers
        .iter()
        .enumerate()
        .map(|(i, c)| (c.customer_id.clone(), i))
        .collect();
    for a in &attrs {
        let customer: String = col(a, 0)?;
        if let Some(&i) = index.get(&customer) {
            customers[i].attributes.push((col(a, 1)?, col(a, 2)?));
        }
    }
    Ok(customers)
}

/// Visits of `customer_ids`, by day.
pub async fn visits_of_customers(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_ids: &[String],
) -> Result<Vec<VisitRow>, DbErr> {
    if customer_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT customer_id, day, amount_fen, store_id, dish_categories, dish_lines FROM tag_visit
                 WHERE chain_id = $1 AND customer_id IN ({}) ORDER BY day",
                super::in_list(2, customer_ids.len())
            ),
            super::chain_and(chain_id, customer_ids),
        ))
        .await?;
    rows.iter().map(visit_from_row).collect()
}
