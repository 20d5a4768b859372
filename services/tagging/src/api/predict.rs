//! Predictive RPCs: GetCustomerPrediction (a customer's stored scores), GetModelReport (the
//! chain's parameters, fit, calibration table and settings), UpdateModelSettings (the
//! churn-risk threshold) and RefitModels (a refit job; too little history is
//! FAILED_PRECONDITION naming the minimum, before anything is written).

use std::sync::Arc;

use maitre_kit::{
    auth::Caller,
    idempotency::{recall, remember},
};
use maitre_proto::tagging::v1::*;
use tonic::{Request, Response};

use super::convert::{AUDIENCE_READERS, CATALOG_ADMINS, job_message, timestamp};
use crate::{
    app::refit_job::start_refit,
    error::{Result, TaggingError},
    state::Deps,
    storage::{
        facts::find_customer,
        models::{ModelRow, load_model, save_settings},
        predictions::find_prediction,
    },
};

/// A finite value, or 0: NaN and infinity never reach a response.
fn finite_or_zero(value: f64) -> f64 {
    if value.is_finite() { value } else { 0.0 }
}

pub async fn get_customer_prediction(
    deps: &Arc<Deps>,
    request: Request<GetCustomerPredictionRequest>,
) -> Result<Response<GetCustomerPredictionResponse>> {
    let caller = Caller::from_request(&request)?;
    caller.require_role(AUDIENCE_READERS)?;
    let chain = caller.chain()?;
    let customer_id = &request.get_ref().customer_id;
    if customer_id.is_empty() {
        return Err(TaggingError::invalid("customer_id", "required"));
    }
    let db = &deps.runtime.db;
    if find_customer(db, chain, customer_id).await?.is_none() {
        return Err(TaggingError::not_found("customer", customer_id));
    }
    super::scope::require_customer_scope(db, chain, &caller, customer_id).await?;
    let p = find_prediction(db, chain, customer_id).await?.ok_or_else(|| {
        TaggingError::precondition(
            "customer_id",
            "no prediction yet: the chain's models are not fitted (RefitModels) or the customer has no visit",
        )
    })?;
    Ok(Response::new(GetCustomerPredictionResponse {
        prediction: Some(Prediction {
            customer_id: p.customer_id,
            p_alive: finite_or_zero(p.p_alive),
            expected_visits_30d: finite_or_zero(p.expected_visits_30d),
            expected_ticket_fen: p.expected_ticket_fen,
            expected_value_fen: p.expected_value_fen,
            response_rate: finite_or_zero(p.response_rate),
            new_dish_acceptance: finite_or_zero(p.new_dish_acceptance),
            compute_time: timestamp(p.computed_at_us),
        }),
    }))
}

/// When the visit model was last fitted: only for a real fit (a chain whose every fit failed has a
/// report with the reason, and no fit time — not the epoch).
fn fit_time(model: &ModelRow) -> Option<prost_types::Timestamp> {
    (model.visits.is_some() && model.fit_at_us > 0)
        .then(|| timestamp(model.fit_at_us))
        .flatten()
}

pub async fn get_model_report(
    deps: &Arc<Deps>,
    request: Request<GetModelReportRequest>,
) -> Result<Response<GetModelReportResponse>> {
    let caller = Caller::from_request(&request)?;
    caller.require_role(AUDIENCE_READERS)?;
    let chain = caller.chain()?;
    let model = load_model(&deps.runtime.db, chain)
        .await?
        .filter(|m| m.visits.is_some() || !m.note.is_empty())
        .ok_or_else(|| TaggingError::not_found("model report", chain))?;
    let visits = model.visits.unwrap_or(crate::domain::model::BgNbdParams {
        r: 0.0,
        alpha: 0.0,
        a: 0.0,
        b: 0.0,
    });
    let spend = model
        .spend
        .unwrap_or(crate::domain::model::GammaGammaParams {
            p: 0.0,
            q: 0.0,
            gamma: 0.0,
        });
    Ok(Response::new(GetModelReportResponse {
        report: Some(ModelReport {
            r: finite_or_zero(visits.r),
            alpha: finite_or_zero(visits.alpha),
            a: finite_or_zero(visits.a),
            b: finite_or_zero(visits.b),
            log_likelihood: finite_or_zero(model.log_likelihood),
            gg_p: finite_or_zero(spend.p),
            gg_q: finite_or_zero(spend.q),
            gg_gamma: finite_or_zero(spend.gamma),
            customers: model.customers,
            fit_time: fit_time(&model),
            calibration: model
                .calibration
                .iter()
                .map(|row| CalibrationRow {
                    calibration_visits: i64::from(row.calibration_visits),
                    customers: row.customers as i64,
                    predicted_holdout_visits: finite_or_zero(row.predicted_mean_visits),
                    actual_holdout_visits: finite_or_zero(row.actual_mean_visits),
                })
                .collect(),
            last_fit_converged: model.converged,
            note: model.note,
            settings: Some(ModelSettings {
                churn_threshold: model.churn_threshold,
            }),
        }),
    }))
}

pub async fn update_model_settings(
    deps: &Arc<Deps>,
    request: Request<UpdateModelSettingsRequest>,
) -> Result<Response<UpdateModelSettingsResponse>> {
    let caller = Caller::from_request(&request)?;
    caller.require_role(CATALOG_ADMINS)?;
    let chain = caller.chain()?;
    let settings = request
        .into_inner()
        .settings
        .ok_or_else(|| TaggingError::invalid("settings", "required"))?;
    let threshold = settings.churn_threshold;
    // A threshold of 0 would mark nobody and 1 everybody: neither is a risk model.
    if !(threshold > 0.0 && threshold < 1.0) {
        return Err(TaggingError::invalid(
            "settings.churn_threshold",
            format!("must be strictly between 0 and 1 (P(alive)); got {threshold}"),
        ));
    }
    let txn = crate::storage::begin_write(&deps.runtime.db).await?;
    let before = load_model(&txn, chain)
        .await?
        .map(|m| m.churn_threshold)
        .unwrap_or(crate::storage::models::DEFAULT_CHURN_THRESHOLD);
    save_settings(&txn, chain, threshold).await?;
    maitre_kit::audit::record(
        &txn,
        &maitre_kit::audit::Actor::of(&caller),
        chain,
        maitre_kit::audit::Change {
            action: "tagging.model_settings.update",
            target_type: "model_settings",
            target_id: "chain",
            before: maitre_kit::audit::json_of(&ModelSettings {
                churn_threshold: before,
            }),
            after: maitre_kit::audit::json_of(&ModelSettings {
                churn_threshold: threshold,
            }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(Response::new(UpdateModelSettingsResponse {
        settings: Some(ModelSettings {
            churn_threshold: threshold,
        }),
    }))
}

pub async fn refit_models(
    deps: &Arc<Deps>,
    request: Request<RefitModelsRequest>,
) -> Result<Response<RefitModelsResponse>> {
    let caller = Caller::from_request(&request)?;
    caller.require_role(CATALOG_ADMINS)?;
    let chain = caller.chain()?;
    let request_id = &request.get_ref().request_id;
    let db = &deps.runtime.db;
    if let Some(done) = recall::<RefitModelsResponse>(db, chain, "refit_models", request_id).await?
    {
        return Ok(Response::new(done));
    }
    let job = start_refit(deps, chain).await?;
    let response = RefitModelsResponse {
        progress: Some(job_message(&job)),
    };
    // As for recompute: the job runs outside any transaction; this record makes replays
    // return the first job.
    if let Err(e) = remember(db, chain, "refit_models", request_id, &response).await {
        tracing::warn!(error = %e, "recording the refit request failed");
        if let Some(done) =
            recall::<RefitModelsResponse>(db, chain, "refit_models", request_id).await?
        {
            return Ok(Response::new(done));
        }
    }
    Ok(Response::new(response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_real_fit_has_a_fit_time() {
        let never_fitted = ModelRow {
            note: "the visit model did not converge; previous parameters kept".into(),
            ..ModelRow::default()
        };
        assert_eq!(fit_time(&never_fitted), None, "not 1970-01-01");
        let fitted = ModelRow {
            visits: Some(
                crate::domain::model::BgNbdParams::new(0.5, 10.0, 0.7, 2.5).expect("params"),
            ),
            fit_at_us: 1_780_000_000_000_000,
            ..ModelRow::default()
        };
        assert_eq!(fit_time(&fitted).map(|t| t.seconds), Some(1_780_000_000));
    }
}
