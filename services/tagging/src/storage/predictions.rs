//! Per-customer scores (`tag_prediction`): the BG/NBD and Gamma-Gamma figures, the
//! smoothed rates and the trials behind them. Only finite numbers are written: callers
//! build rows through `app::scores`, which refuses NaN and infinity.

use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use super::col;

/// One customer's stored scores.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionRow {
    pub customer_id: String,
    pub number: u32,
    /// Distinct visit days ever (the "once regular" test of `churn_risk`).
    pub visit_days: i64,
    pub p_alive: f64,
    pub expected_visits_30d: f64,
    pub expected_ticket_fen: i64,
    pub expected_value_fen: i64,
    pub response_rate: f64,
    /// Campaign sends behind `response_rate`.
    pub response_sends: i64,
    pub new_dish_acceptance: f64,
    /// Visits within a launch window behind `new_dish_acceptance`.
    pub new_dish_visits: i64,
    pub computed_at_us: i64,
}

const PREDICTION_COLUMNS: &str = "customer_id, number, visit_days, p_alive, expected_visits_30d, expected_ticket_fen, expected_value_fen, response_rate, response_sends, new_dish_acceptance, new_dish_visits, computed_at_us";

fn prediction_from_row(row: &QueryResult) -> Result<PredictionRow, DbErr> {
    Ok(PredictionRow {
        customer_id: col(row, 0)?,
        number: u32::try_from(col::<i64>(row, 1)?)
            .map_err(|_| DbErr::Custom("customer number out of range".into()))?,
        visit_days: col(row, 2)?,
        p_alive: col(row, 3)?,
        expected_visits_30d: col(row, 4)?,
        expected_ticket_fen: col(row, 5)?,
        expected_value_fen: col(row, 6)?,
        response_rate: col(row, 7)?,
        response_sends: col(row, 8)?,
        new_dish_acceptance: col(row, 9)?,
        new_dish_visits: col(row, 10)?,
        computed_at_us: col(row, 11)?,
    })
}

/// Inserts or replaces a customer's scores.
pub async fn upsert_prediction(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    p: &PredictionRow,
) -> Result<(), DbErr> {
    conn.execute_raw(stmt(
        conn,
        &format!(
            "INSERT INTO tag_prediction (chain_id, {PREDICTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (chain_id, customer_id) DO UPDATE SET number = excluded.number,
               visit_days = excluded.visit_days, p_alive = excluded.p_alive,
               expected_visits_30d = excluded.expected_visits_30d,
               expected_ticket_fen = excluded.expected_ticket_fen,
               expected_value_fen = excluded.expected_value_fen,
               response_rate = excluded.response_rate,
               response_sends = excluded.response_sends,
               new_dish_acceptance = excluded.new_dish_acceptance,
               new_dish_visits = excluded.new_dish_visits,
               computed_at_us = excluded.computed_at_us"
        ),
        [
            chain_id.into(),
            p.customer_id.clone().into(),
            i64::from(p.number).into(),
            p.visit_days.into(),
            p.p_alive.into(),
            p.expected_visits_30d.into(),
            p.expected_ticket_fen.into(),
            p.expected_value_fen.into(),
            p.response_rate.into(),
            p.response_sends.into(),
            p.new_dish_acceptance.into(),
            p.new_dish_visits.into(),
            p.computed_at_us.into(),
        ],
    ))
    .await?;
    Ok(())
}

pub async fn find_prediction(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_id: &str,
) -> Result<Option<PredictionRow>, DbErr> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            &format!(
                "SELECT {PREDICTION_COLUMNS} FROM tag_prediction WHERE chain_id = $1 AND customer_id = $2"
            ),
            [chain_id.into(), customer_id.into()],
        ))
        .await?;
    row.as_ref().map(prediction_from_row).transpose()
}

/// Scores of the customers numbered in `[from, to)`.
pub async fn predictions_in_range(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    from: u32,
    to: u32,
) -> Result<Vec<PredictionRow>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT {PREDICTION_COLUMNS} FROM tag_prediction WHERE chain_id = $1 AND number >= $2 AND number < $3"
            ),
            [chain_id.into(), i64::from(from).into(), i64::from(to).into()],
        ))
        .await?;
    rows.iter().map(prediction_from_row).collect()
}

/// Every stored score of the chain (analysis over groups).
pub async fn all_predictions(
    conn: &impl ConnectionTrait,
    chain_id: &str,
) -> Result<Vec<PredictionRow>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!("SELECT {PREDICTION_COLUMNS} FROM tag_prediction WHERE chain_id = $1"),
            [chain_id.into()],
        ))
        .await?;
    rows.iter().map(prediction_from_row).collect()
}

/// Scores of `customer_ids`.
pub async fn predictions_of_customers(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    customer_ids: &[String],
) -> Result<Vec<PredictionRow>, DbErr> {
    if customer_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = conn
        .query_all_raw(stmt(
            conn,
            &format!(
                "SELECT {PREDICTION_COLUMNS} FROM tag_prediction WHERE chain_id = $1 AND customer_id IN ({})",
                super::in_list(2, customer_ids.len())
            ),
            super::chain_and(chain_id, customer_ids),
        ))
        .await?;
    rows.iter().map(prediction_from_row).collect()
}
