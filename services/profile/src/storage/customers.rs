//! The `customers` and `customer_stores` tables: one row per customer (absorbed ones keep a
//! row pointing at their survivor), profile and aggregates as JSON of the domain types.

use maitre_kit::db::{is_postgres, stmt};
use maitre_proto::profile::v1::Classification;
use prost::Message;
use sea_orm::{ConnectionTrait, Value};

use super::{col, count_value, from_json, from_proto, to_json};
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

fn from_row(row: &sea_orm::QueryResult) -> Result<CustomerRow> {
    let customer_id: String = col(row, "customer_id")?;
    let profile: String = col(row, "profile")?;
    let aggregates: String = col(row, "aggregates")?;
    let classification: Option<Vec<u8>> = col(row, "classification")?;
    let erased: i32 = col(row, "erased")?;
    Ok(CustomerRow {
        profile: from_json(&format!("customer {customer_id} profile"), &profile)?,
        aggregates: from_json(&format!("customer {customer_id} aggregates"), &aggregates)?,
        classification: classification
            .map(|bytes| from_proto(&format!("customer {customer_id} classification"), &bytes))
            .transpose()?,
        created_at_us: col(row, "created_at_us")?,
        updated_at_us: col(row, "updated_at_us")?,
        home_store_id: col(row, "home_store_id")?,
        bookings: col(row, "bookings")?,
        class: col(row, "class")?,
        owner_manager_id: col(row, "owner_manager_id")?,
        erased: erased != 0,
        merged_into: col(row, "merged_into")?,
        customer_id,
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

/// Inserts a new customer.
pub async fn insert(conn: &impl ConnectionTrait, chain: &str, c: &CustomerRow) -> Result<()> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO customers (chain_id, customer_id, created_at_us, updated_at_us, home_store_id, \
         profile, aggregates, visits, spend_fen, last_visit_us, bookings, class, classification, \
         owner_manager_id, erased, merged_into) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        values(chain, c)?,
    ))
    .await?;
    Ok(())
}

/// Writes every mutable column of an existing customer.
pub async fn save(conn: &impl ConnectionTrait, chain: &str, c: &CustomerRow) -> Result<()> {
    conn.execute_raw(stmt(
        conn,
        "UPDATE customers SET created_at_us = $3, updated_at_us = $4, home_store_id = $5, \
         profile = $6, aggregates = $7, visits = $8, spend_fen = $9, last_visit_us = $10, \
         bookings = $11, class = $12, classification = $13, owner_manager_id = $14, \
         erased = $15, merged_into = $16 WHERE chain_id = $1 AND customer_id = $2",
        values(chain, c)?,
    ))
    .await?;
    Ok(())
}

/// One customer of the chain (absorbed ones too: see `merged_into`).
pub async fn get(
    conn: &impl ConnectionTrait,
    chain: &str,
    id: &str,
) -> Result<Option<CustomerRow>> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            &format!("SELECT {COLUMNS} FROM customers WHERE chain_id = $1 AND customer_id = $2"),
            [chain.into(), id.into()],
        ))
        .await?;
    row.as_ref().map(from_row).transpose()
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
    let rows = conn.query_all_raw(stmt(conn, &sql, values)).await?;
    rows.iter().map(from_row).collect()
}

/// Records that the customer has contact with `store_id` (home store or a visit).
pub async fn add_store(
    conn: &impl ConnectionTrait,
    chain: &str,
    customer_id: &str,
    store_id: &str,
) -> Result<()> {
    if store_id.is_empty() {
        return Ok(());
    }
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO customer_stores (chain_id, store_id, customer_id) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
        [chain.into(), store_id.into(), customer_id.into()],
    ))
    .await?;
    Ok(())
}

/// The stores a customer has contact with.
pub async fn stores_of(
    conn: &impl ConnectionTrait,
    chain: &str,
    customer_id: &str,
) -> Result<Vec<String>> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT store_id FROM customer_stores WHERE chain_id = $1 AND customer_id = $2 ORDER BY store_id",
            [chain.into(), customer_id.into()],
        ))
        .await?;
    rows.iter().map(|r| col(r, "store_id")).collect()
}

/// Moves the store links of `from` to `to` (merge).
pub async fn repoint_stores(
    conn: &impl ConnectionTrait,
    chain: &str,
    from: &str,
    to: &str,
) -> Result<()> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO customer_stores (chain_id, store_id, customer_id) \
         SELECT chain_id, store_id, $3 FROM customer_stores WHERE chain_id = $1 AND customer_id = $2 \
         ON CONFLICT DO NOTHING",
        [chain.into(), from.into(), to.into()],
    ))
    .await?;
    conn.execute_raw(stmt(
        conn,
        "DELETE FROM customer_stores WHERE chain_id = $1 AND customer_id = $2",
        [chain.into(), from.into()],
    ))
    .await?;
    Ok(())
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

/// The chains that have customers (daily recompute).
pub async fn chains(conn: &impl ConnectionTrait) -> Result<Vec<String>> {
    let rows = conn
        .query_all_raw(stmt(conn, "SELECT DISTINCT chain_id FROM customers", []))
        .await?;
    rows.iter().map(|r| col(r, "chain_id")).collect()
}
