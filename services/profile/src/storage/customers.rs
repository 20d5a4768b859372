//! The `customers` table: one row per customer (absorbed ones keep a row pointing at their
//! survivor), profile and aggregates as JSON of the domain types.

use maitre_kit::db::{is_postgres, stmt};
use maitre_proto::profile::v1::Classification;
use prost::Message;
use sea_orm::{ConnectionTrait, FromQueryResult, Value};

use super::{
    col, count_value, fetch_all, fetch_one, from_json, from_proto, read_row, to_json,
    writes::Writes,
};
use crate::{
    domain::{aggregates::Aggregates, profile::Profile},
    error::Result,
};

/// One stored customer.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRow {
    pub customer_id: String,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub home_store_id: String,
    pub profile: Profile,
    pub aggregates: Aggregates,
    pub bookings: i64,
    /// `CustomerClass` number of the contract (0 before the first classification).
    pub class: i32,
    pub classification: Option<Classification>,
    pub owner_manager_id: String,
    pub erased: bool,
    /// The survivor this customer was merged into, if any.
    pub merged_into: Option<String>,
}

impl CustomerRow {
    /// A new customer with nothing known yet.
    pub fn new(customer_id: String, home_store_id: String, now_us: i64) -> Self {
        Self {
            customer_id,
            created_at_us: now_us,
            updated_at_us: now_us,
            home_store_id,
            profile: Profile::default(),
            aggregates: Aggregates::default(),
            bookings: 0,
            class: 0,
            classification: None,
            owner_manager_id: String::new(),
            erased: false,
            merged_into: None,
        }
    }
}

const COLUMNS: &str = "customer_id, created_at_us, updated_at_us, home_store_id, profile, aggregates, \
     bookings, class, classification, owner_manager_id, erased, merged_into";

/// A `customers` row as stored (JSON text, proto bytes, 0/1), read by derive.
#[derive(FromQueryResult)]
struct StoredCustomer {
    customer_id: String,
    created_at_us: i64,
    updated_at_us: i64,
    home_store_id: String,
    profile: String,
    aggregates: String,
    bookings: i64,
    class: i32,
    classification: Option<Vec<u8>>,
    owner_manager_id: String,
    erased: i32,
    merged_into: Option<String>,
}

fn from_row(row: &sea_orm::QueryResult) -> Result<CustomerRow> {
    let s: StoredCustomer = read_row(row)?;
    let what = |field: &str| format!("customer {} {field}", s.customer_id);
    Ok(CustomerRow {
        profile: from_json(&what("profile"), &s.profile)?,
        aggregates: from_json(&what("aggregates"), &s.aggregates)?,
        classification: s
            .classification
            .map(|bytes| from_proto(&what("classification"), &bytes))
            .transpose()?,
        created_at_us: s.created_at_us,
        updated_at_us: s.updated_at_us,
        home_store_id: s.home_store_id,
        bookings: s.bookings,
        class: s.class,
        owner_manager_id: s.owner_manager_id,
        erased: s.erased != 0,
        merged_into: s.merged_into,
        customer_id: s.customer_id,
    })
}

fn values(chain: &str, c: &CustomerRow) -> Result<Vec<Value>> {
    let spend = c.aggregates.spend_fen;
    let visits = i64::try_from(c.aggregates.visit_count).unwrap_or(i64::MAX);
    let last_visit = c.aggregates.last_visit_at.map(|t| t.timestamp_micros());
    Ok(vec![
        chain.into(),
        c.customer_id.clone().into(),
        c.created_at_us.into(),
        c.updated_at_us.into(),
        c.home_store_id.clone().into(),
        to_json(&c.profile)?,
        to_json(&c.aggregates)?,
        visits.into(),
        spend.into(),
        last_visit.into(),
        c.bookings.into(),
        c.class.into(),
        c.classification.as_ref().map(Message::encode_to_vec).into(),
        c.owner_manager_id.clone().into(),
        i32::from(c.erased).into(),
        c.merged_into.clone().into(),
    ])
}

/// The [`values`] of `rows`, one after the other.
fn values_of(chain: &str, rows: &[CustomerRow]) -> Result<Vec<Value>> {
    let mut all = Vec::with_capacity(rows.len() * 16);
    for c in rows {
        all.extend(values(chain, c)?);
    }
    Ok(all)
}

/// Inserts a new customer.
pub async fn insert(conn: &impl ConnectionTrait, chain: &str, c: &CustomerRow) -> Result<()> {
    insert_many(conn, chain, std::slice::from_ref(c)).await
}

/// Inserts new customers with one statement (per thousand or so).
pub async fn insert_many(
    conn: &impl ConnectionTrait,
    chain: &str,
    rows: &[CustomerRow],
) -> Result<()> {
    let mut writes = Writes::default();
    insert_into(&mut writes, chain, rows)?;
    writes.run(conn).await
}

/// Adds the INSERT of new customers to `writes`.
pub fn insert_into(writes: &mut Writes, chain: &str, rows: &[CustomerRow]) -> Result<()> {
    writes.add_rows(
        &format!("INSERT INTO customers ({COLUMN_LIST})"),
        "",
        16,
        values_of(chain, rows)?,
    );
    Ok(())
}

/// Sets the customer's owner (assignment's `OwnerChanged`).
pub async fn set_owner(
    conn: &impl ConnectionTrait,
    chain: &str,
    customer_id: &str,
    manager_id: &str,
) -> Result<()> {
    conn.execute_raw(stmt(
        conn,
        "UPDATE customers SET owner_manager_id = $1 WHERE chain_id = $2 AND customer_id = $3",
        [manager_id.into(), chain.into(), customer_id.into()],
    ))
    .await?;
    Ok(())
}

/// Writes every mutable column of an existing customer.
pub async fn save(conn: &impl ConnectionTrait, chain: &str, c: &CustomerRow) -> Result<()> {
    let mut writes = Writes::default();
    save_into(&mut writes, chain, std::slice::from_ref(c))?;
    writes.run(conn).await
}

/// The columns [`values`] gives, in order.
const COLUMN_LIST: &str = "chain_id, customer_id, created_at_us, updated_at_us, home_store_id, \
     profile, aggregates, visits, spend_fen, last_visit_us, bookings, class, classification, \
     owner_manager_id, erased, merged_into";

/// Adds the UPDATE of every mutable column of existing customers to `writes`: one
/// statement joining the rows' new values, not one per customer (a chunk of repeat visits
/// planned as 500 UPDATEs cost PostgreSQL five times as much as one).
pub fn save_into(writes: &mut Writes, chain: &str, rows: &[CustomerRow]) -> Result<()> {
    writes.add_rows(
        &format!("WITH changed ({COLUMN_LIST}) AS ("),
        ") UPDATE customers SET created_at_us = changed.created_at_us, \
         updated_at_us = changed.updated_at_us, home_store_id = changed.home_store_id, \
         profile = changed.profile, aggregates = changed.aggregates, visits = changed.visits, \
         spend_fen = changed.spend_fen, last_visit_us = changed.last_visit_us, \
         bookings = changed.bookings, class = changed.class, \
         classification = changed.classification, owner_manager_id = changed.owner_manager_id, \
         erased = changed.erased, merged_into = changed.merged_into FROM changed \
         WHERE customers.chain_id = changed.chain_id AND customers.customer_id = changed.customer_id",
        16,
        values_of(chain, rows)?,
    );
    Ok(())
}

/// One customer of the chain (absorbed ones too: see `merged_into`).
pub async fn get(
    conn: &impl ConnectionTrait,
    chain: &str,
    id: &str,
) -> Result<Option<CustomerRow>> {
    fetch_one(
        conn,
        &format!("SELECT {COLUMNS} FROM customers WHERE chain_id = $1 AND customer_id = $2"),
        [chain.into(), id.into()],
        from_row,
    )
    .await
}

/// The live customer an identity key (canonical) names — the first created when legacy
/// links give it several (the look-up rule) — with its identity keys and stores (canonical
/// text, sorted), what its contract form needs, in one read.
pub async fn by_key_with_view(
    conn: &impl ConnectionTrait,
    chain: &str,
    canonical_key: &str,
) -> Result<Option<(CustomerRow, Vec<String>, Vec<String>)>> {
    // A JSON array as text: PostgreSQL's json_agg is `json`, so cast; SQLite's is text.
    let (list, as_text) = if is_postgres(conn) {
        ("json_agg", "::text")
    } else {
        ("json_group_array", "")
    };
    let row = conn
        .query_one_raw(stmt(
            conn,
            &format!(
                "SELECT {COLUMNS}, \
                 (SELECT COALESCE({list}(l.identity_key){as_text}, '[]') FROM identity_links l \
                  WHERE l.chain_id = $1 AND l.customer_id = c.customer_id) AS view_keys, \
                 (SELECT COALESCE({list}(s.store_id){as_text}, '[]') FROM customer_stores s \
                  WHERE s.chain_id = $1 AND s.customer_id = c.customer_id) AS view_stores \
                 FROM customers c WHERE chain_id = $1 AND merged_into IS NULL \
                 AND customer_id IN (SELECT customer_id FROM identity_links \
                 WHERE chain_id = $1 AND identity_key = $2) \
                 ORDER BY created_at_us, customer_id LIMIT 1"
            ),
            [chain.into(), canonical_key.into()],
        ))
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let list_of = |column: &str| -> Result<Vec<String>> {
        let text: String = col(&row, column)?;
        let mut values: Vec<String> = from_json(column, &text)?;
        values.sort();
        Ok(values)
    };
    Ok(Some((
        from_row(&row)?,
        list_of("view_keys")?,
        list_of("view_stores")?,
    )))
}

/// One customer, row-locked until the transaction ends (PostgreSQL; SQLite serialises
/// writers anyway).
pub async fn get_for_update(
    conn: &impl ConnectionTrait,
    chain: &str,
    id: &str,
) -> Result<Option<CustomerRow>> {
    let lock = if is_postgres(conn) { " FOR UPDATE" } else { "" };
    let row = conn
        .query_one_raw(stmt(
            conn,
            &format!(
                "SELECT {COLUMNS} FROM customers WHERE chain_id = $1 AND customer_id = $2{lock}"
            ),
            [chain.into(), id.into()],
        ))
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The customers `ids` of the chain, row-locked until the transaction ends (PostgreSQL).
pub async fn get_many_for_update(
    conn: &impl ConnectionTrait,
    chain: &str,
    ids: &[String],
) -> Result<Vec<CustomerRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let lock = if is_postgres(conn) { " FOR UPDATE" } else { "" };
    let (one_of, list) = super::one_of(conn, "customer_id", 2, ids)?;
    let sql = format!("SELECT {COLUMNS} FROM customers WHERE chain_id = $1 AND {one_of}{lock}");
    fetch_all(conn, &sql, [chain.into(), list], from_row).await
}

/// Filters of `ListCustomers`; every one optional.
#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    /// Only customers with this store (home or visited).
    pub store_id: Option<String>,
    /// Only customers with one of these stores (store-scoped callers).
    pub store_scope: Option<Vec<String>>,
    pub class: Option<i32>,
    pub last_visit_before_us: Option<i64>,
    pub owner_manager_id: Option<String>,
}

/// Live (not absorbed) customers matching `filter`, ordered by id.
pub async fn list(
    conn: &impl ConnectionTrait,
    chain: &str,
    filter: &CustomerFilter,
    offset: u64,
    limit: u64,
) -> Result<Vec<CustomerRow>> {
    let mut values: Vec<Value> = vec![chain.into()];
    let mut clauses = vec!["chain_id = $1".to_owned(), "merged_into IS NULL".to_owned()];
    let mut push = |sql: &str, value: Value, values: &mut Vec<Value>| {
        values.push(value);
        clauses.push(sql.replace('?', &format!("${}", values.len())));
    };
    let in_store = "customer_id IN (SELECT customer_id FROM customer_stores WHERE chain_id = $1 AND store_id = ?)";
    if let Some(store) = &filter.store_id {
        push(in_store, store.clone().into(), &mut values);
    }
    if let Some(class) = filter.class {
        push("class = ?", class.into(), &mut values);
    }
    if let Some(before) = filter.last_visit_before_us {
        push("last_visit_us < ?", before.into(), &mut values);
    }
    if let Some(owner) = &filter.owner_manager_id {
        push("owner_manager_id = ?", owner.clone().into(), &mut values);
    }
    if let Some(scope) = &filter.store_scope {
        let first = values.len() + 1;
        values.extend(scope.iter().map(|s| Value::from(s.clone())));
        clauses.push(if scope.is_empty() {
            "1 = 0".to_owned()
        } else {
            format!(
                "customer_id IN (SELECT customer_id FROM customer_stores WHERE chain_id = $1 AND store_id IN ({}))",
                super::placeholders(first, scope.len())
            )
        });
    }
    let limit_at = values.len() + 1;
    values.push(count_value(limit));
    values.push(count_value(offset));
    let sql = format!(
        "SELECT {COLUMNS} FROM customers WHERE {} ORDER BY customer_id LIMIT ${limit_at} OFFSET ${}",
        clauses.join(" AND "),
        limit_at + 1
    );
    fetch_all(conn, &sql, values, from_row).await
}

/// Every live customer's id and aggregates of the chain (quintiles, daily recompute).
pub async fn all_aggregates(
    conn: &impl ConnectionTrait,
    chain: &str,
) -> Result<Vec<(String, crate::domain::aggregates::Aggregates)>> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT customer_id, aggregates FROM customers WHERE chain_id = $1 AND merged_into IS NULL",
            [chain.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            let id: String = col(r, "customer_id")?;
            let text: String = col(r, "aggregates")?;
            let aggregates = from_json(&format!("customer {id} aggregates"), &text)?;
            Ok((id, aggregates))
        })
        .collect()
}

/// What a chain's class recompute reads of one live customer: aggregates, stored class
/// number and classification.
pub struct ClassedRow {
    pub customer_id: String,
    pub aggregates: Aggregates,
    pub class: i32,
    pub classification: Option<Classification>,
}

/// Every live customer of `chain` with their class (one read for a class recompute).
pub async fn all_classed(conn: &impl ConnectionTrait, chain: &str) -> Result<Vec<ClassedRow>> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT customer_id, aggregates, class, classification FROM customers \
             WHERE chain_id = $1 AND merged_into IS NULL",
            [chain.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            let customer_id: String = col(r, "customer_id")?;
            let aggregates: String = col(r, "aggregates")?;
            let classification: Option<Vec<u8>> = col(r, "classification")?;
            Ok(ClassedRow {
                aggregates: from_json(&format!("customer {customer_id} aggregates"), &aggregates)?,
                classification: classification
                    .map(|b| from_proto(&format!("customer {customer_id} classification"), &b))
                    .transpose()?,
                class: col(r, "class")?,
                customer_id,
            })
        })
        .collect()
}

/// The chains that have customers (daily recompute).
pub async fn chains(conn: &impl ConnectionTrait) -> Result<Vec<String>> {
    let rows = conn
        .query_all_raw(stmt(conn, "SELECT DISTINCT chain_id FROM customers", []))
        .await?;
    rows.iter().map(|r| col(r, "chain_id")).collect()
}
