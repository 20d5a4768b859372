//! The chain's roster in `tag_chain` and `tag_customer`: the number counter, the roster
//! version (bumped by erasures and merges so replicas reload their bitmap universe),
//! customer numbers for the bitmaps and for segment leaves on class and attributes, and the
//! day the time-driven rules last ran.

use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, DbErr};

use super::{col, facts::ensure_chain};

fn number_of(value: i64) -> Result<u32, DbErr> {
    u32::try_from(value).map_err(|_| DbErr::Custom(format!("customer number {value} out of range")))
}

/// `(next_number, roster_version)` of the chain; `(0, 0)` before its first customer.
pub async fn roster(conn: &impl ConnectionTrait, chain_id: &str) -> Result<(u32, i64), DbErr> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            "SELECT next_number, roster_version FROM tag_chain WHERE chain_id = $1",
            [chain_id.into()],
        ))
        .await?;
    match row {
        Some(row) => Ok((number_of(col(&row, 0)?)?, col(&row, 1)?)),
        None => Ok((0, 0)),
    }
}

/// `(customer_id, number, erased)` of customers numbered `from` and above.
pub async fn numbers_from(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    from: u32,
) -> Result<Vec<(String, u32, bool)>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT customer_id, number, erased FROM tag_customer WHERE chain_id = $1 AND number >= $2",
            [chain_id.into(), i64::from(from).into()],
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((col(r, 0)?, number_of(col(r, 1)?)?, col::<i64>(r, 2)? != 0)))
        .collect()
}

/// Numbers of customers whose class is (or, when set, is not) `value`.
pub async fn numbers_with_class(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    value: &str,
    equal: bool,
) -> Result<Vec<u32>, DbErr> {
    let op = if equal { "=" } else { "<>" };
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!("SELECT number FROM tag_customer WHERE chain_id = $1 AND erased = 0 AND class {op} $2"),
            [chain_id.into(), value.into()],
        ))
        .await?;
    rows.iter().map(|r| number_of(col(r, 0)?)).collect()
}

/// Numbers of customers whose attribute `name` is set and is (or is not) `value`.
pub async fn numbers_with_attribute(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    name: &str,
    value: &str,
    equal: bool,
) -> Result<Vec<u32>, DbErr> {
    let op = if equal { "=" } else { "<>" };
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT c.number FROM tag_customer_attribute a
                 JOIN tag_customer c ON c.chain_id = a.chain_id AND c.customer_id = a.customer_id
                 WHERE a.chain_id = $1 AND a.name = $2 AND a.value {op} $3 AND c.erased = 0"
            ),
            [chain_id.into(), name.into(), value.into()],
        ))
        .await?;
    rows.iter().map(|r| number_of(col(r, 0)?)).collect()
}

/// The day the chain's time-driven rules last ran (epoch day; 0 never).
pub async fn time_rules_day(conn: &impl ConnectionTrait, chain_id: &str) -> Result<i64, DbErr> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            "SELECT time_rules_day FROM tag_chain WHERE chain_id = $1",
            [chain_id.into()],
        ))
        .await?;
    row.map_or(Ok(0), |r| col(&r, 0))
}

pub async fn set_time_rules_day(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    day: i64,
) -> Result<(), DbErr> {
    ensure_chain(conn, chain_id).await?;
    conn.execute_raw(stmt(
        conn,
        "UPDATE tag_chain SET time_rules_day = $2 WHERE chain_id = $1",
        [chain_id.into(), day.into()],
    ))
    .await?;
    Ok(())
}
