//! The chain's menu (`tag_dish`, consumed from profile's `DishChanged`) and the dish lines
//! of visits (`tag_visit_line`), each resolved to a menu dish by id, or by name where the
//! channel sent only a name (seed 002 §4; ARCHITECTURE "Menu"). Lines that match no dish
//! keep an empty `dish_id` and their name and category.

use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, DbErr, Value};

use super::col;

/// Separates ingredients inside `tag_dish.ingredients`.
const INGREDIENT_SEPARATOR: &str = "\n";

#[derive(Debug, Clone, PartialEq)]
pub struct DishRow {
    pub dish_id: String,
    pub name: String,
    pub category: String,
    pub ingredients: Vec<String>,
    /// Chain-local epoch day of the launch, when known.
    pub launch_day: Option<i32>,
}

/// One dish line of a visit.
#[derive(Debug, Clone, PartialEq)]
pub struct LineRow {
    pub customer_id: String,
    pub day: i32,
    pub store_id: String,
    /// The menu dish, or empty when neither id nor name matched.
    pub dish_id: String,
    pub dish_name: String,
    pub category: String,
}

/// Inserts or replaces a dish (profile sends the dish after the change).
pub async fn upsert_dish(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    dish: &DishRow,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO tag_dish (chain_id, dish_id, name, category, ingredients, launch_day)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (chain_id, dish_id) DO UPDATE SET name = excluded.name,
           category = excluded.category, ingredients = excluded.ingredients,
           launch_day = excluded.launch_day",
        [
            chain_id.into(),
            dish.dish_id.clone().into(),
            dish.name.clone().into(),
            dish.category.clone().into(),
            dish.ingredients.join(INGREDIENT_SEPARATOR).into(),
            Value::BigInt(dish.launch_day.map(i64::from)),
        ],
    ))
    .await?;
    Ok(())
}

/// The chain's menu, by dish id.
pub async fn all_dishes(
    conn: &impl ConnectionTrait,
    chain_id: &str,
) -> Result<Vec<DishRow>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT dish_id, name, category, ingredients, launch_day FROM tag_dish WHERE chain_id = $1 ORDER BY dish_id",
            [chain_id.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            let ingredients: String = col(r, 3)?;
            let launch: Option<i64> = col(r, 4)?;
            Ok(DishRow {
                dish_id: col(r, 0)?,
                name: col(r, 1)?,
                category: col(r, 2)?,
                ingredients: ingredients
                    .split(INGREDIENT_SEPARATOR)
                    .filter(|i| !i.is_empty())
                    .map(str::to_owned)
                    .collect(),
                launch_day: launch.and_then(|d| i32::try_from(d).ok()),
            })
        })
        .collect()
}

/// The menu dish a line names: its id when that dish exists, else a dish of that name.
async fn resolve_dish(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    dish_id: &str,
    dish_name: &str,
) -> Result<Option<(String, String)>, DbErr> {
    if !dish_id.is_empty() {
        let row = conn
            .query_one_raw(stmt(
                conn,
                "SELECT dish_id, category FROM tag_dish WHERE chain_id = $1 AND dish_id = $2",
                [chain_id.into(), dish_id.into()],
            ))
            .await?;
        if let Some(row) = row {
            return Ok(Some((col(&row, 0)?, col(&row, 1)?)));
        }
    }
    if dish_name.is_empty() {
        return Ok(None);
    }
    let row = conn
        .query_one_raw(stmt(
            conn,
            "SELECT dish_id, category FROM tag_dish WHERE chain_id = $1 AND name = $2 ORDER BY dish_id LIMIT 1",
            [chain_id.into(), dish_name.trim().into()],
        ))
        .await?;
    row.map(|r| Ok((col(&r, 0)?, col(&r, 1)?))).transpose()
}

/// Records a visit's dish lines once per profile event (replays insert nothing). `lines`
/// are `(dish_id, dish_name, category)` as the channel sent them.
pub async fn insert_visit_lines(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    event_id: &str,
    customer_id: &str,
    day: i32,
    store_id: &str,
    lines: &[(String, String, String)],
) -> Result<(), DbErr> {
    for (line_no, (dish_id, dish_name, category)) in lines.iter().enumerate() {
        let (dish_id, category) = match resolve_dish(conn, chain_id, dish_id, dish_name).await? {
            // The menu's category wins over the channel's where the channel sent none.
            Some((id, menu_category)) if category.is_empty() => (id, menu_category),
            Some((id, _)) => (id, category.clone()),
            None => (String::new(), category.clone()),
        };
        conn.execute_raw(stmt(
            conn,
            "INSERT INTO tag_visit_line (chain_id, customer_id, event_id, line_no, day, store_id, dish_id, dish_name, category)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (chain_id, customer_id, event_id, line_no) DO NOTHING",
            [
                chain_id.into(),
                customer_id.into(),
                event_id.into(),
                (line_no as i64).into(),
                i64::from(day).into(),
                store_id.into(),
                dish_id.into(),
                dish_name.clone().into(),
                category.into(),
            ],
        ))
        .await?;
    }
    Ok(())
}

/// Moves an absorbed customer's dish lines to the survivor of a merge.
pub async fn move_visit_lines(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    from_customer: &str,
    to_customer: &str,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        "INSERT INTO tag_visit_line (chain_id, customer_id, event_id, line_no, day, store_id, dish_id, dish_name, category)
         SELECT chain_id, $3, event_id, line_no, day, store_id, dish_id, dish_name, category
         FROM tag_visit_line WHERE chain_id = $1 AND customer_id = $2
         ON CONFLICT (chain_id, customer_id, event_id, line_no) DO NOTHING",
        [chain_id.into(), from_customer.into(), to_customer.into()],
    ))
    .await?;
    Ok(())
}

/// Forgets a customer's dish lines, scores and campaign sends (erasure, or absorbed).
pub async fn erase_customer_analysis(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<(), DbErr> {
    for sql in [
        "DELETE FROM tag_visit_line WHERE chain_id = $1 AND customer_id = $2",
        "DELETE FROM tag_prediction WHERE chain_id = $1 AND customer_id = $2",
        "DELETE FROM tag_campaign_send WHERE chain_id = $1 AND customer_id = $2",
    ] {
        conn.execute_raw(stmt(conn, sql, [chain_id.into(), customer_id.into()]))
            .await?;
    }
    Ok(())
}

/// Dish lines of the chain's customers (not erased) on days `>= from_day`.
pub async fn lines_since(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    from_day: i32,
) -> Result<Vec<LineRow>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT customer_id, day, store_id, dish_id, dish_name, category FROM tag_visit_line
             WHERE chain_id = $1 AND day >= $2 ORDER BY customer_id, day",
            [chain_id.into(), i64::from(from_day).into()],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(LineRow {
                customer_id: col(r, 0)?,
                day: i32::try_from(col::<i64>(r, 1)?).unwrap_or(i32::MIN),
                store_id: col(r, 2)?,
                dish_id: col(r, 3)?,
                dish_name: col(r, 4)?,
                category: col(r, 5)?,
            })
        })
        .collect()
}

/// `(customer_id, number, day, spend_fen)` per customer and visit day since `from_day`
/// (several orders on one day summed into one visit).
pub async fn visit_days_since(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    from_day: i32,
) -> Result<Vec<(String, u32, i32, i64)>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT v.customer_id, c.number, v.day, CAST(SUM(v.amount_fen) AS BIGINT) FROM tag_visit v
             JOIN tag_customer c ON c.chain_id = v.chain_id AND c.customer_id = v.customer_id
             WHERE v.chain_id = $1 AND v.day >= $2 AND c.erased = 0
             GROUP BY v.customer_id, c.number, v.day ORDER BY v.customer_id, v.day",
            [chain_id.into(), i64::from(from_day).into()],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                col(r, 0)?,
                u32::try_from(col::<i64>(r, 1)?)
                    .map_err(|_| DbErr::Custom("customer number out of range".into()))?,
                i32::try_from(col::<i64>(r, 2)?).unwrap_or(i32::MIN),
                col(r, 3)?,
            ))
        })
        .collect()
}

/// One visit's dish lines for [`insert_visit_lines_of`]: `(profile event id, customer, day,
/// store, lines as the channel sent them)`.
pub type VisitLines = (String, String, i32, String, Vec<(String, String, String)>);

/// [`insert_visit_lines`] for several visits at once, each dish resolved once per call.
pub async fn insert_visit_lines_of(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    visits: &[VisitLines],
) -> Result<(), DbErr> {
    let mut resolved: std::collections::HashMap<(String, String), Option<(String, String)>> =
        std::collections::HashMap::new();
    let mut rows: Vec<[Value; 9]> = Vec::new();
    for (event_id, customer_id, day, store_id, lines) in visits {
        for (line_no, (dish_id, dish_name, category)) in lines.iter().enumerate() {
            let key = (dish_id.clone(), dish_name.clone());
            let menu = match resolved.get(&key) {
                Some(menu) => menu.clone(),
                None => {
                    let menu = resolve_dish(conn, chain_id, dish_id, dish_name).await?;
                    resolved.insert(key, menu.clone());
                    menu
                }
            };
            let (dish_id, category) = match menu {
                Some((id, menu_category)) if category.is_empty() => (id, menu_category),
                Some((id, _)) => (id, category.clone()),
                None => (String::new(), category.clone()),
            };
            rows.push([
                chain_id.into(),
                customer_id.clone().into(),
                event_id.clone().into(),
                (line_no as i64).into(),
                i64::from(*day).into(),
                store_id.clone().into(),
                dish_id.into(),
                dish_name.clone().into(),
                category.into(),
            ]);
        }
    }
    for chunk in rows.chunks(super::ROWS_PER_STATEMENT) {
        conn.execute_raw(stmt(
            conn,
            &format!(
                "INSERT INTO tag_visit_line (chain_id, customer_id, event_id, line_no, day, store_id, dish_id, dish_name, category)
                 VALUES {} ON CONFLICT (chain_id, customer_id, event_id, line_no) DO NOTHING",
                maitre_kit::db::value_rows(chunk.len(), 9)
            ),
            chunk.iter().flat_map(|row| row.iter().cloned()).collect::<Vec<_>>(),
        ))
        .await?;
    }
    Ok(())
}
