//! gRPC handlers of the tagging service: decode, authorise, call the engine and storage,
//! encode. One module per family of RPCs; this file only routes.
//!
//! Every RPC of the contract is implemented.

mod analysis;
mod catalog;
mod convert;
mod jobs;
mod lifecycle;
mod members;
mod predict;
mod rule_check;
mod rule_functions;
mod rules;
mod scope;
mod segments;

use std::sync::Arc;

use maitre_kit::{
    auth::Caller,
    eventlog::{BoxEventStream, watch_for},
};
use maitre_proto::tagging::v1::{tagging_service_server::TaggingService, *};
use tonic::{Request, Response, Status, codegen::BoxStream};

pub use rule_check::{RuleProblem, check_rule};

use crate::state::Deps;

/// The tagging service's handlers.
#[derive(Clone)]
pub struct TaggingServiceApi {
    deps: Arc<Deps>,
}

impl TaggingServiceApi {
    /// Handlers over the service's dependencies.
    pub fn new(deps: Arc<Deps>) -> Self {
        Self { deps }
    }
}

type Answer<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl TaggingService for TaggingServiceApi {
    async fn create_tag(&self, r: Request<CreateTagRequest>) -> Answer<CreateTagResponse> {
        Ok(catalog::create_tag(&self.deps, r).await?)
    }
    async fn get_tag(&self, r: Request<GetTagRequest>) -> Answer<GetTagResponse> {
        Ok(catalog::get_tag_rpc(&self.deps, r).await?)
    }
    async fn update_tag(&self, r: Request<UpdateTagRequest>) -> Answer<UpdateTagResponse> {
        Ok(catalog::update_tag_rpc(&self.deps, r).await?)
    }
    async fn list_tags(&self, r: Request<ListTagsRequest>) -> Answer<ListTagsResponse> {
        Ok(catalog::list_tags_rpc(&self.deps, r).await?)
    }
    async fn transition_tag(
        &self,
        r: Request<TransitionTagRequest>,
    ) -> Answer<TransitionTagResponse> {
        Ok(lifecycle::transition_tag_rpc(&self.deps, r).await?)
    }
    async fn validate_rule(&self, r: Request<ValidateRuleRequest>) -> Answer<ValidateRuleResponse> {
        Ok(rules::validate_rule(&self.deps, r).await?)
    }
    async fn preview_rule(&self, r: Request<PreviewRuleRequest>) -> Answer<PreviewRuleResponse> {
        Ok(rules::preview_rule(&self.deps, r).await?)
    }
    async fn list_rule_functions(
        &self,
        r: Request<ListRuleFunctionsRequest>,
    ) -> Answer<ListRuleFunctionsResponse> {
        Ok(rule_functions::list_rule_functions(r)?)
    }
    async fn explain_tag(&self, r: Request<ExplainTagRequest>) -> Answer<ExplainTagResponse> {
        Ok(rules::explain_tag(&self.deps, r).await?)
    }
    async fn add_customer_tags(
        &self,
        r: Request<AddCustomerTagsRequest>,
    ) -> Answer<AddCustomerTagsResponse> {
        Ok(members::add_customer_tags(&self.deps, r).await?)
    }
    async fn remove_customer_tags(
        &self,
        r: Request<RemoveCustomerTagsRequest>,
    ) -> Answer<RemoveCustomerTagsResponse> {
        Ok(members::remove_customer_tags(&self.deps, r).await?)
    }
    async fn bulk_tag_segment(
        &self,
        r: Request<BulkTagSegmentRequest>,
    ) -> Answer<BulkTagSegmentResponse> {
        Ok(members::bulk_tag_segment(&self.deps, r).await?)
    }
    async fn list_customer_tags(
        &self,
        r: Request<ListCustomerTagsRequest>,
    ) -> Answer<ListCustomerTagsResponse> {
        Ok(members::list_customer_tags(&self.deps, r).await?)
    }
    async fn list_tag_members(
        &self,
        r: Request<ListTagMembersRequest>,
    ) -> Answer<ListTagMembersResponse> {
        Ok(members::list_tag_members(&self.deps, r).await?)
    }
    async fn list_tag_history(
        &self,
        r: Request<ListTagHistoryRequest>,
    ) -> Answer<ListTagHistoryResponse> {
        Ok(members::list_tag_history(&self.deps, r).await?)
    }
    async fn create_segment(
        &self,
        r: Request<CreateSegmentRequest>,
    ) -> Answer<CreateSegmentResponse> {
        Ok(segments::create_segment(&self.deps, r).await?)
    }
    async fn get_segment(&self, r: Request<GetSegmentRequest>) -> Answer<GetSegmentResponse> {
        Ok(segments::get_segment_rpc(&self.deps, r).await?)
    }
    async fn list_segments(&self, r: Request<ListSegmentsRequest>) -> Answer<ListSegmentsResponse> {
        Ok(segments::list_segments_rpc(&self.deps, r).await?)
    }
    async fn delete_segment(
        &self,
        r: Request<DeleteSegmentRequest>,
    ) -> Answer<DeleteSegmentResponse> {
        Ok(segments::delete_segment_rpc(&self.deps, r).await?)
    }
    async fn count_segment(&self, r: Request<CountSegmentRequest>) -> Answer<CountSegmentResponse> {
        Ok(segments::count_segment(&self.deps, r).await?)
    }
    async fn list_segment_members(
        &self,
        r: Request<ListSegmentMembersRequest>,
    ) -> Answer<ListSegmentMembersResponse> {
        Ok(segments::list_segment_members(&self.deps, r).await?)
    }
    async fn export_segment(
        &self,
        r: Request<ExportSegmentRequest>,
    ) -> Answer<BoxStream<ExportSegmentResponse>> {
        Ok(segments::export_segment(&self.deps, r).await?)
    }
    async fn get_customer_prediction(
        &self,
        r: Request<GetCustomerPredictionRequest>,
    ) -> Answer<GetCustomerPredictionResponse> {
        Ok(predict::get_customer_prediction(&self.deps, r).await?)
    }
    async fn get_model_report(
        &self,
        r: Request<GetModelReportRequest>,
    ) -> Answer<GetModelReportResponse> {
        Ok(predict::get_model_report(&self.deps, r).await?)
    }
    async fn update_model_settings(
        &self,
        r: Request<UpdateModelSettingsRequest>,
    ) -> Answer<UpdateModelSettingsResponse> {
        Ok(predict::update_model_settings(&self.deps, r).await?)
    }
    async fn refit_models(&self, r: Request<RefitModelsRequest>) -> Answer<RefitModelsResponse> {
        Ok(predict::refit_models(&self.deps, r).await?)
    }
    async fn compare_groups(
        &self,
        r: Request<CompareGroupsRequest>,
    ) -> Answer<CompareGroupsResponse> {
        Ok(analysis::compare_groups(&self.deps, r).await?)
    }
    async fn get_dish_demand(
        &self,
        r: Request<GetDishDemandRequest>,
    ) -> Answer<GetDishDemandResponse> {
        Ok(analysis::get_dish_demand(&self.deps, r).await?)
    }
    async fn get_ingredient_audience(
        &self,
        r: Request<GetIngredientAudienceRequest>,
    ) -> Answer<GetIngredientAudienceResponse> {
        Ok(analysis::get_ingredient_audience(&self.deps, r).await?)
    }
    async fn get_new_dish_acceptance(
        &self,
        r: Request<GetNewDishAcceptanceRequest>,
    ) -> Answer<GetNewDishAcceptanceResponse> {
        Ok(analysis::get_new_dish_acceptance(&self.deps, r).await?)
    }
    async fn start_recompute(
        &self,
        r: Request<StartRecomputeRequest>,
    ) -> Answer<StartRecomputeResponse> {
        Ok(jobs::start_recompute(&self.deps, r).await?)
    }
    async fn get_job(&self, r: Request<GetJobRequest>) -> Answer<GetJobResponse> {
        Ok(jobs::get_job(&self.deps, r).await?)
    }
    async fn watch(&self, request: Request<WatchRequest>) -> Answer<BoxEventStream> {
        let caller = Caller::from_request(&request)?;
        let stream = watch_for(
            &self.deps.runtime.events,
            &caller,
            request.get_ref().from_sequence,
        )?;
        Ok(Response::new(stream))
    }
}
