//! Job RPCs: StartRecompute (a full recompute of the chain's rules) and GetJob.

use std::sync::Arc;

use maitre_kit::{
    auth::Caller,
    idempotency::{recall, remember},
};
use maitre_proto::tagging::v1::*;
use tonic::{Request, Response};

use super::convert::{CATALOG_ADMINS, job_message};
use crate::{
    app::recompute::start_recompute as start_job,
    error::{Result, TaggingError},
    state::Deps,
    storage::jobs::get_job as load_job,
};

pub async fn start_recompute(
    deps: &Arc<Deps>,
    request: Request<StartRecomputeRequest>,
) -> Result<Response<StartRecomputeResponse>> {
    let caller = Caller::from_request(&request)?;
    caller.require_role(CATALOG_ADMINS)?;
    let chain = caller.chain()?;
    let request_id = &request.get_ref().request_id;
    // A recompute rereads every guest of the chain: without its key, a retried or empty
    // request would start another one each time.
    if request_id.trim().is_empty() {
        return Err(TaggingError::invalid("request_id", "is required"));
    }
    let db = &deps.runtime.db;
    if let Some(done) =
        recall::<StartRecomputeResponse>(db, chain, "start_recompute", request_id).await?
    {
        return Ok(Response::new(done));
    }
    let job = start_job(deps, chain).await?;
    let response = StartRecomputeResponse {
        progress: Some(job_message(&job)),
    };
    // The job runs outside any transaction; a racing duplicate at worst starts a second,
    // harmless recompute, and this record makes later replays return the first job.
    if let Err(e) = remember(db, chain, "start_recompute", request_id, &response).await {
        tracing::warn!(error = %e, "recording the recompute request failed");
        if let Some(done) =
            recall::<StartRecomputeResponse>(db, chain, "start_recompute", request_id).await?
        {
            return Ok(Response::new(done));
        }
    }
    Ok(Response::new(response))
}

pub async fn get_job(
    deps: &Arc<Deps>,
    request: Request<GetJobRequest>,
) -> Result<Response<GetJobResponse>> {
    let caller = Caller::from_request(&request)?;
    let chain = caller.chain()?;
    let id = &request.get_ref().job_id;
    let job = load_job(&deps.runtime.db, chain, id)
        .await?
        .ok_or_else(|| TaggingError::not_found("job", id))?;
    Ok(Response::new(GetJobResponse {
        progress: Some(job_message(&job)),
    }))
}
