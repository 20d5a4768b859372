//! gRPC handlers of the profile service: decode, authorise, call the domain, encode.
//!
//! Each RPC family lives in its own module; this one holds the shared state and routes
//! the generated trait's methods to them.

mod api_keys;
mod batch;
mod customers;
mod events;
mod followup_summary;
mod followups;
mod menu;
mod policy;
mod stores;
mod upsert;

use std::sync::Arc;

pub use api_keys::ApiKeyResolverApi;

use maitre_kit::{
    auth::Caller,
    config::ServiceName,
    eventlog::{BoxEventStream, watch_for},
    page::PageRequest,
    runtime::Runtime,
};
use maitre_proto::profile::v1::{self as pb, profile_service_server::ProfileService};
use tonic::{Request, Response, Status};

use crate::{
    domain::event::EventLimits,
    error::Result,
    owner::{GrpcOwnerDecider, OwnerDecider},
    service::{cache::Caches, group_commit::GroupCommit},
};

/// Largest page of any list.
const MAX_PAGE: u64 = 500;

/// The profile service's handlers.
#[derive(Clone)]
pub struct ProfileServiceApi {
    runtime: Runtime,
    owner: Arc<dyn OwnerDecider>,
    limits: EventLimits,
    caches: Arc<Caches>,
    group_commit: Arc<GroupCommit>,
}

impl ProfileServiceApi {
    /// Handlers over the service's runtime, asking assignment (gRPC) for owners.
    pub fn new(runtime: Runtime) -> Self {
        let owner = GrpcOwnerDecider::new(runtime.config.upstream(ServiceName::Assignment));
        Self::with_owner_decider(runtime, owner)
    }

    /// Handlers with another owner decider (tests use a fake).
    pub fn with_owner_decider(runtime: Runtime, owner: Arc<dyn OwnerDecider>) -> Self {
        let group_commit = Arc::new(GroupCommit::start(
            runtime.db.clone(),
            runtime.events.clone(),
        ));
        let caches = Arc::new(Caches::announcing(runtime.events.clone()));
        Self {
            group_commit,
            runtime,
            owner,
            limits: EventLimits::default(),
            caches,
        }
    }
}

/// An offset page: `(offset, size)` from the request's size and token.
fn page(page_size: i32, page_token: &str) -> Result<(u64, u64)> {
    let page = PageRequest::parse(page_size, page_token, MAX_PAGE)?;
    let offset = if page.after.is_empty() {
        0
    } else {
        page.after.parse().map_err(|_| {
            crate::error::Error::invalid("page_token", "not a token from a previous response")
        })?
    };
    Ok((offset, page.size))
}

/// The token after a page of `got` rows starting at `offset` (empty at the end).
fn next_page(offset: u64, size: u64, got: usize) -> String {
    if (got as u64) < size {
        String::new()
    } else {
        maitre_kit::page::next_token(&(offset + size).to_string())
    }
}

fn reply<T>(result: Result<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl ProfileService for ProfileServiceApi {
    async fn create_store(
        &self,
        r: Request<pb::CreateStoreRequest>,
    ) -> Result<Response<pb::CreateStoreResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(stores::create(self, &caller, r.into_inner()).await)
    }
    async fn get_store(
        &self,
        r: Request<pb::GetStoreRequest>,
    ) -> Result<Response<pb::GetStoreResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(stores::get(self, &caller, r.into_inner()).await)
    }
    async fn list_stores(
        &self,
        r: Request<pb::ListStoresRequest>,
    ) -> Result<Response<pb::ListStoresResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(stores::list(self, &caller, r.into_inner()).await)
    }
    async fn update_store(
        &self,
        r: Request<pb::UpdateStoreRequest>,
    ) -> Result<Response<pb::UpdateStoreResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(stores::update(self, &caller, r.into_inner()).await)
    }
    async fn upsert_customer(
        &self,
        r: Request<pb::UpsertCustomerRequest>,
    ) -> Result<Response<pb::UpsertCustomerResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(upsert::upsert(self, &caller, r.into_inner()).await)
    }
    async fn get_customer(
        &self,
        r: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::GetCustomerResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(customers::get(self, &caller, r.into_inner()).await)
    }
    async fn lookup_customer(
        &self,
        r: Request<pb::LookupCustomerRequest>,
    ) -> Result<Response<pb::LookupCustomerResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(customers::lookup(self, &caller, r.into_inner()).await)
    }
    async fn list_customers(
        &self,
        r: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(customers::list(self, &caller, r.into_inner()).await)
    }
    async fn update_customer(
        &self,
        r: Request<pb::UpdateCustomerRequest>,
    ) -> Result<Response<pb::UpdateCustomerResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(customers::update(self, &caller, r.into_inner()).await)
    }
    async fn merge_customers(
        &self,
        r: Request<pb::MergeCustomersRequest>,
    ) -> Result<Response<pb::MergeCustomersResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(customers::merge(self, &caller, r.into_inner()).await)
    }
    async fn erase_customer(
        &self,
        r: Request<pb::EraseCustomerRequest>,
    ) -> Result<Response<pb::EraseCustomerResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(customers::erase(self, &caller, r.into_inner()).await)
    }
    async fn list_blocked_identifiers(
        &self,
        r: Request<pb::ListBlockedIdentifiersRequest>,
    ) -> Result<Response<pb::ListBlockedIdentifiersResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(policy::list_blocked(self, &caller, r.into_inner()).await)
    }
    async fn update_blocked_identifiers(
        &self,
        r: Request<pb::UpdateBlockedIdentifiersRequest>,
    ) -> Result<Response<pb::UpdateBlockedIdentifiersResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(policy::update_blocked(self, &caller, r.into_inner()).await)
    }
    async fn record_event(
        &self,
        r: Request<pb::RecordEventRequest>,
    ) -> Result<Response<pb::RecordEventResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(events::record(self, &caller, r.into_inner()).await)
    }
    async fn record_events_batch(
        &self,
        r: Request<pb::RecordEventsBatchRequest>,
    ) -> Result<Response<pb::RecordEventsBatchResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(batch::record_batch(self, &caller, r.into_inner()).await)
    }
    async fn list_customer_events(
        &self,
        r: Request<pb::ListCustomerEventsRequest>,
    ) -> Result<Response<pb::ListCustomerEventsResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(events::list(self, &caller, r.into_inner()).await)
    }
    async fn get_classification_policy(
        &self,
        r: Request<pb::GetClassificationPolicyRequest>,
    ) -> Result<Response<pb::GetClassificationPolicyResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(policy::get(self, &caller).await)
    }
    async fn update_classification_policy(
        &self,
        r: Request<pb::UpdateClassificationPolicyRequest>,
    ) -> Result<Response<pb::UpdateClassificationPolicyResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(policy::update(self, &caller, r.into_inner()).await)
    }
    async fn create_follow_up_record(
        &self,
        r: Request<pb::CreateFollowUpRecordRequest>,
    ) -> Result<Response<pb::CreateFollowUpRecordResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(followups::create_record(self, &caller, r.into_inner()).await)
    }
    async fn list_follow_up_records(
        &self,
        r: Request<pb::ListFollowUpRecordsRequest>,
    ) -> Result<Response<pb::ListFollowUpRecordsResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(followups::list_records(self, &caller, r.into_inner()).await)
    }
    async fn create_follow_up_plan(
        &self,
        r: Request<pb::CreateFollowUpPlanRequest>,
    ) -> Result<Response<pb::CreateFollowUpPlanResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(followups::create_plan(self, &caller, r.into_inner()).await)
    }
    async fn list_follow_up_plans(
        &self,
        r: Request<pb::ListFollowUpPlansRequest>,
    ) -> Result<Response<pb::ListFollowUpPlansResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(followups::list_plans(self, &caller, r.into_inner()).await)
    }
    async fn summarize_follow_ups(
        &self,
        r: Request<pb::SummarizeFollowUpsRequest>,
    ) -> Result<Response<pb::SummarizeFollowUpsResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(followup_summary::summarize(self, &caller, r.into_inner()).await)
    }
    async fn complete_follow_up_plan(
        &self,
        r: Request<pb::CompleteFollowUpPlanRequest>,
    ) -> Result<Response<pb::CompleteFollowUpPlanResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(followups::complete_plan(self, &caller, r.into_inner()).await)
    }
    async fn upsert_dish(
        &self,
        r: Request<pb::UpsertDishRequest>,
    ) -> Result<Response<pb::UpsertDishResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(menu::upsert(self, &caller, r.into_inner()).await)
    }
    async fn import_dishes(
        &self,
        r: Request<pb::ImportDishesRequest>,
    ) -> Result<Response<pb::ImportDishesResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(menu::import(self, &caller, r.into_inner()).await)
    }
    async fn list_dishes(
        &self,
        r: Request<pb::ListDishesRequest>,
    ) -> Result<Response<pb::ListDishesResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(menu::list(self, &caller, r.into_inner()).await)
    }

    async fn create_api_key(
        &self,
        r: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(api_keys::create(self, &caller, r.into_inner()).await)
    }
    async fn list_api_keys(
        &self,
        r: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(api_keys::list(self, &caller, r.into_inner()).await)
    }
    async fn revoke_api_key(
        &self,
        r: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::RevokeApiKeyResponse>, Status> {
        let caller = Caller::from_request(&r)?;
        reply(api_keys::revoke(self, &caller, r.into_inner()).await)
    }

    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<BoxEventStream>, Status> {
        let caller = Caller::from_request(&request)?;
        let stream = watch_for(
            &self.runtime.events,
            &caller,
            request.get_ref().from_sequence,
        )?;
        Ok(Response::new(stream))
    }
}
