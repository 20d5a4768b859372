//! The chain's model state (`tag_model`: parameters, report, model-tag cut-offs) and the
//! chain-wide visit read a refit needs. Per-customer scores are [`super::predictions`].

use maitre_kit::db::stmt;
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};

use super::col;
use crate::domain::model::{BgNbdParams, CalibrationRow, GammaGammaParams};

/// One chain's models, report and model-tag cut-offs.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRow {
    /// The BG/NBD parameters in use (`None` before the first converged fit).
    pub visits: Option<BgNbdParams>,
    pub log_likelihood: f64,
    /// The Gamma-Gamma parameters in use (fen), when spend could be fitted.
    pub spend: Option<GammaGammaParams>,
    pub customers: i64,
    pub fit_at_us: i64,
    /// False when the last refit did not converge (the parameters are the previous ones).
    pub converged: bool,
    pub note: String,
    pub calibration: Vec<CalibrationRow>,
    /// `churn_risk` when P(alive) is below this (chain setting, default 0.3).
    pub churn_threshold: f64,
    /// `high_value` from this expected value up (the top decile at the last refit).
    pub high_value_cutoff_fen: i64,
    /// `high_responder` from this smoothed response rate up (0 = no responder model).
    pub responder_cutoff: f64,
    /// `new_dish_adopter` from this smoothed acceptance up (0 = no acceptance model).
    pub adopter_cutoff: f64,
    /// The chain's beta prior of response rates (0, 0 = none fitted).
    pub response_prior: (f64, f64),
    /// Chain-local epoch day of the last scheduled refit attempt.
    pub refit_day: i64,
}

/// The default churn threshold (seed 002 §2: "P(alive) < 0.3").
pub const DEFAULT_CHURN_THRESHOLD: f64 = 0.3;

impl Default for ModelRow {
    fn default() -> Self {
        ModelRow {
            visits: None,
            log_likelihood: 0.0,
            spend: None,
            customers: 0,
            fit_at_us: 0,
            converged: false,
            note: String::new(),
            calibration: Vec::new(),
            churn_threshold: DEFAULT_CHURN_THRESHOLD,
            high_value_cutoff_fen: 0,
            responder_cutoff: 0.0,
            adopter_cutoff: 0.0,
            response_prior: (0.0, 0.0),
            refit_day: 0,
        }
    }
}

/// Calibration rows as `x,open,customers,actual,predicted;…` (Rust prints f64 so it
/// parses back to the same value).
fn encode_calibration(rows: &[CalibrationRow]) -> String {
    rows.iter()
        .map(|r| {
            format!(
                "{},{},{},{},{}",
                r.calibration_visits,
                u8::from(r.open_ended),
                r.customers,
                r.actual_mean_visits,
                r.predicted_mean_visits
            )
        })
        .collect::<Vec<_>>()
        .join(";")
}

fn decode_calibration(text: &str) -> Vec<CalibrationRow> {
    text.split(';')
        .filter_map(|row| {
            let f: Vec<&str> = row.split(',').collect();
            if f.len() != 5 {
                return None;
            }
            Some(CalibrationRow {
                calibration_visits: f[0].parse().ok()?,
                open_ended: f[1] == "1",
                customers: f[2].parse().ok()?,
                actual_mean_visits: f[3].parse().ok()?,
                predicted_mean_visits: f[4].parse().ok()?,
            })
        })
        .collect()
}

const MODEL_COLUMNS: &str = "fitted, r, alpha, a, b, log_likelihood, spend_fitted, gg_p, gg_q, gg_gamma, customers, fit_at_us, converged, note, calibration, churn_threshold, high_value_cutoff_fen, responder_cutoff, adopter_cutoff, response_alpha, response_beta, refit_day";

fn model_from_row(row: &QueryResult) -> Result<ModelRow, DbErr> {
    let fitted: i64 = col(row, 0)?;
    let spend_fitted: i64 = col(row, 6)?;
    let calibration: String = col(row, 14)?;
    Ok(ModelRow {
        visits: (fitted != 0)
            .then(|| -> Result<_, DbErr> {
                Ok(BgNbdParams {
                    r: col(row, 1)?,
                    alpha: col(row, 2)?,
                    a: col(row, 3)?,
                    b: col(row, 4)?,
                })
            })
            .transpose()?,
        log_likelihood: col(row, 5)?,
        spend: (spend_fitted != 0)
            .then(|| -> Result<_, DbErr> {
                Ok(GammaGammaParams {
                    p: col(row, 7)?,
                    q: col(row, 8)?,
                    gamma: col(row, 9)?,
                })
            })
            .transpose()?,
        customers: col(row, 10)?,
        fit_at_us: col(row, 11)?,
        converged: col::<i64>(row, 12)? != 0,
        note: col(row, 13)?,
        calibration: decode_calibration(&calibration),
        churn_threshold: col(row, 15)?,
        high_value_cutoff_fen: col(row, 16)?,
        responder_cutoff: col(row, 17)?,
        adopter_cutoff: col(row, 18)?,
        response_prior: (col(row, 19)?, col(row, 20)?),
        refit_day: col(row, 21)?,
    })
}

/// The chain's model row, if any refit was ever attempted.
pub async fn load_model(
    conn: &impl ConnectionTrait,
    chain_id: &str,
) -> Result<Option<ModelRow>, DbErr> {
    let row = conn
        .query_one_raw(stmt(
            conn,
            &format!("SELECT {MODEL_COLUMNS} FROM tag_model WHERE chain_id = $1"),
            [chain_id.into()],
        ))
        .await?;
    row.as_ref().map(model_from_row).transpose()
}

/// Writes the chain's model row (insert or replace) but for its settings (the churn
/// threshold), which only [`save_settings`] writes: a refit that read the settings before
/// an update must not put the old ones back.
pub async fn save_model(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    m: &ModelRow,
) -> Result<(), DbErr> {
    let fitted = MODEL_COLUMNS
        .split(", ")
        .filter(|c| !SETTINGS_COLUMNS.contains(c))
        .collect::<Vec<_>>();
    upsert(conn, chain_id, m, &fitted).await
}

/// Sets the chain's churn threshold (a model row with no fit yet when there is none).
pub async fn save_settings(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    churn_threshold: f64,
) -> Result<(), DbErr> {
    let row = ModelRow {
        churn_threshold,
        ..ModelRow::default()
    };
    upsert(conn, chain_id, &row, SETTINGS_COLUMNS).await
}

/// The columns the chain sets (UpdateModelSettings) rather than a refit.
const SETTINGS_COLUMNS: &[&str] = &["churn_threshold"];

/// Inserts `m`, or updates the existing row's `columns` to `m`'s.
async fn upsert(
    conn: &impl ConnectionTrait,
    chain_id: &str,
    m: &ModelRow,
    columns: &[&str],
) -> Result<(), DbErr> {
    let v = m.visits.unwrap_or(BgNbdParams {
        r: 0.0,
        alpha: 0.0,
        a: 0.0,
        b: 0.0,
    });
    let s = m.spend.unwrap_or(GammaGammaParams {
        p: 0.0,
        q: 0.0,
        gamma: 0.0,
    });
    let values: Vec<Value> = vec![
        chain_id.into(),
        i64::from(m.visits.is_some()).into(),
        v.r.into(),
        v.alpha.into(),
        v.a.into(),
        v.b.into(),
        m.log_likelihood.into(),
        i64::from(m.spend.is_some()).into(),
        s.p.into(),
        s.q.into(),
        s.gamma.into(),
        m.customers.into(),
        m.fit_at_us.into(),
        i64::from(m.converged).into(),
        m.note.clone().into(),
        encode_calibration(&m.calibration).into(),
        m.churn_threshold.into(),
        m.high_value_cutoff_fen.into(),
        m.responder_cutoff.into(),
        m.adopter_cutoff.into(),
        m.response_prior.0.into(),
        m.response_prior.1.into(),
        m.refit_day.into(),
    ];
    let placeholders = (1..=values.len())
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let updates = columns
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    conn.execute_raw(stmt(
        conn,
        &format!(
            "INSERT INTO tag_model (chain_id, {MODEL_COLUMNS}) VALUES ({placeholders})
             ON CONFLICT (chain_id) DO UPDATE SET {updates}"
        ),
        values,
    ))
    .await?;
    Ok(())
}

/// Chains with customers (candidates of the daily refit).
pub async fn chains_with_customers(conn: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT chain_id FROM tag_chain WHERE next_number > 0 ORDER BY chain_id",
            [],
        ))
        .await?;
    rows.iter().map(|r| col(r, 0)).collect()
}

/// `(customer_id, number, day, amount_fen)` of every visit of the chain's customers that
/// are not erased, ordered by customer.
pub async fn chain_visits(
    conn: &impl ConnectionTrait,
    chain_id: &str,
) -> Result<Vec<(String, u32, i32, i64)>, DbErr> {
    let rows = conn
        .query_all_raw(stmt(
            conn,
            "SELECT v.customer_id, c.number, v.day, v.amount_fen FROM tag_visit v
             JOIN tag_customer c ON c.chain_id = v.chain_id AND c.customer_id = v.customer_id
             WHERE v.chain_id = $1 AND c.erased = 0 ORDER BY v.customer_id, v.day",
            [chain_id.into()],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_rows_round_trip() {
        let rows = vec![
            CalibrationRow {
                calibration_visits: 0,
                open_ended: false,
                customers: 12,
                actual_mean_visits: 0.125,
                predicted_mean_visits: 0.1 + 0.2,
            },
            CalibrationRow {
                calibration_visits: 7,
                open_ended: true,
                customers: 3,
                actual_mean_visits: 4.0,
                predicted_mean_visits: 3.999_999_9,
            },
        ];
        assert_eq!(decode_calibration(&encode_calibration(&rows)), rows);
        assert!(decode_calibration("").is_empty());
    }
}
