//! The `dishes` table: the chain's menu (ingredients as JSON text, launch date `YYYY-MM-DD`).

use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, Value};

use super::{col, count_value, fetch_all, from_json, to_json};
use crate::error::Result;

/// One stored dish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DishRow {
    pub dish_id: String,
    pub name: String,
    pub category: String,
    pub ingredients: Vec<String>,
    /// `YYYY-MM-DD`, or empty when unknown.
    pub launch_date: String,
    pub price_fen: i64,
    pub active: bool,
}

const COLUMNS: &str = "dish_id, name, category, ingredients, launch_date, price_fen, active";

fn from_row(row: &sea_orm::QueryResult) -> Result<DishRow> {
    let dish_id: String = col(row, "dish_id")?;
    let ingredients: String = col(row, "ingredients")?;
    let active: i32 = col(row, "active")?;
    Ok(DishRow {
        ingredients: from_json(&format!("dish {dish_id} ingredients"), &ingredients)?,
        name: col(row, "name")?,
        category: col(row, "category")?,
        launch_date: col(row, "launch_date")?,
        price_fen: col(row, "price_fen")?,
        active: active != 0,
        dish_id,
    })
}

/// Creates or replaces a dish.
pub async fn upsert(
    conn: &impl ConnectionTrait,
    chain: &str,
    d: &DishRow,
    now_us: i64,
) -> Result<()> {
    conn.execute_raw(stmt(
        conn,
        &format!(
            "INSERT INTO dishes (chain_id, {COLUMNS}, updated_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (chain_id, dish_id) DO UPDATE SET name = excluded.name, category = excluded.category, \
             ingredients = excluded.ingredients, launch_date = excluded.launch_date, \
             price_fen = excluded.price_fen, active = excluded.active, updated_at_us = excluded.updated_at_us"
        ),
        [
            chain.into(),
            d.dish_id.clone().into(),
            d.name.clone().into(),
            d.category.clone().into(),
            to_json(&d.ingredients)?,
            d.launch_date.clone().into(),
            d.price_fen.into(),
            i32::from(d.active).into(),
            now_us.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The chain's dishes by id; only `category` when given.
pub async fn list(
    conn: &impl ConnectionTrait,
    chain: &str,
    category: Option<&str>,
    offset: u64,
    limit: u64,
) -> Result<Vec<DishRow>> {
    let mut values: Vec<Value> = vec![chain.into(), count_value(limit), count_value(offset)];
    let filter = match category {
        Some(c) => {
            values.push(c.into());
            " AND category = $4"
        }
        None => "",
    };
    fetch_all(conn, &format!(
                "SELECT {COLUMNS} FROM dishes WHERE chain_id = $1{filter} ORDER BY dish_id LIMIT $2 OFFSET $3"
            ),
            values, from_row).await
}

/// Dishes with these ids or names (matching order lines to the menu).
pub async fn by_ids_or_names(
    conn: &impl ConnectionTrait,
    chain: &str,
    ids: &[String],
    names: &[String],
) -> Result<Vec<DishRow>> {
    if ids.is_empty() && names.is_empty() {
        return Ok(Vec::new());
    }
    let mut values: Vec<Value> = vec![chain.into()];
    let mut alternatives = Vec::new();
    if !ids.is_empty() {
        let first = values.len() + 1;
        values.extend(ids.iter().map(|i| Value::from(i.clone())));
        alternatives.push(format!(
            "dish_id IN ({})",
            super::placeholders(first, ids.len())
        ));
    }
    if !names.is_empty() {
        let first = values.len() + 1;
        values.extend(names.iter().map(|n| Value::from(n.clone())));
        alternatives.push(format!(
            "name IN ({})",
            super::placeholders(first, names.len())
        ));
    }
    fetch_all(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM dishes WHERE chain_id = $1 AND ({})",
            alternatives.join(" OR ")
        ),
        values,
        from_row,
    )
    .await
}
