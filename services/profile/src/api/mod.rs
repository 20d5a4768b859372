//! gRPC handlers of the profile service, in one shape: each RPC is a function of its family's
//! module, `async fn(&ProfileServiceApi, &Caller, Request) -> Result<Response>`; the table
//! below routes the generated trait's methods to them (decode the caller, call, encode).

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

use std::{ops::Deref, sync::Arc};

pub use api_keys::ApiKeyResolverApi;

use maitre_kit::{
    auth::Caller,
    eventlog::{BoxEventStream, watch_for},
    page::PageRequest,
};
use maitre_proto::profile::v1::{self as pb, profile_service_server::ProfileService};
use tonic::{Request, Response, Status};

use crate::{error::Result, state::AppState};

/// Largest page of any list.
const MAX_PAGE: u64 = 500;

/// The profile service's handlers, over the state built once in `serve`.
#[derive(Clone)]
pub struct ProfileServiceApi {
    state: Arc<AppState>,
}

impl ProfileServiceApi {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

impl Deref for ProfileServiceApi {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        &self.state
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

/// Implements `ProfileService`: every unary RPC `name: Request => Response = family::handler`,
/// plus the streaming ones written out after `;;`.
macro_rules! profile_service {
    ($($rpc:ident: $req:ident => $resp:ident = $handler:path;)* ;; $($streaming:item)*) => {
        #[tonic::async_trait]
        impl ProfileService for ProfileServiceApi {
            $(
                async fn $rpc(
                    &self,
                    request: Request<pb::$req>,
                ) -> Result<Response<pb::$resp>, Status> {
                    let caller = Caller::from_request(&request)?;
                    $handler(self, &caller, request.into_inner())
                        .await
                        .map(Response::new)
                        .map_err(Status::from)
                }
            )*
            $($streaming)*
        }
    };
}

profile_service! {
    create_store: CreateStoreRequest => CreateStoreResponse = stores::create;
    get_store: GetStoreRequest => GetStoreResponse = stores::get;
    list_stores: ListStoresRequest => ListStoresResponse = stores::list;
    update_store: UpdateStoreRequest => UpdateStoreResponse = stores::update;
    upsert_customer: UpsertCustomerRequest => UpsertCustomerResponse = upsert::upsert;
    get_customer: GetCustomerRequest => GetCustomerResponse = customers::get;
    lookup_customer: LookupCustomerRequest => LookupCustomerResponse = customers::lookup;
    list_customers: ListCustomersRequest => ListCustomersResponse = customers::list;
    update_customer: UpdateCustomerRequest => UpdateCustomerResponse = customers::update;
    merge_customers: MergeCustomersRequest => MergeCustomersResponse = customers::merge;
    erase_customer: EraseCustomerRequest => EraseCustomerResponse = customers::erase;
    list_blocked_identifiers: ListBlockedIdentifiersRequest => ListBlockedIdentifiersResponse = policy::list_blocked;
    update_blocked_identifiers: UpdateBlockedIdentifiersRequest => UpdateBlockedIdentifiersResponse = policy::update_blocked;
    record_event: RecordEventRequest => RecordEventResponse = events::record;
    record_events_batch: RecordEventsBatchRequest => RecordEventsBatchResponse = batch::record_batch;
    list_customer_events: ListCustomerEventsRequest => ListCustomerEventsResponse = events::list;
    get_classification_policy: GetClassificationPolicyRequest => GetClassificationPolicyResponse = policy::get;
    update_classification_policy: UpdateClassificationPolicyRequest => UpdateClassificationPolicyResponse = policy::update;
    create_follow_up_record: CreateFollowUpRecordRequest => CreateFollowUpRecordResponse = followups::create_record;
    list_follow_up_records: ListFollowUpRecordsRequest => ListFollowUpRecordsResponse = followups::list_records;
    create_follow_up_plan: CreateFollowUpPlanRequest => CreateFollowUpPlanResponse = followups::create_plan;
    list_follow_up_plans: ListFollowUpPlansRequest => ListFollowUpPlansResponse = followups::list_plans;
    summarize_follow_ups: SummarizeFollowUpsRequest => SummarizeFollowUpsResponse = followup_summary::summarize;
    complete_follow_up_plan: CompleteFollowUpPlanRequest => CompleteFollowUpPlanResponse = followups::complete_plan;
    upsert_dish: UpsertDishRequest => UpsertDishResponse = menu::upsert;
    import_dishes: ImportDishesRequest => ImportDishesResponse = menu::import;
    list_dishes: ListDishesRequest => ListDishesResponse = menu::list;
    create_api_key: CreateApiKeyRequest => CreateApiKeyResponse = api_keys::create;
    list_api_keys: ListApiKeysRequest => ListApiKeysResponse = api_keys::list;
    revoke_api_key: RevokeApiKeyRequest => RevokeApiKeyResponse = api_keys::revoke;
    ;;
    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<BoxEventStream>, Status> {
        let caller = Caller::from_request(&request)?;
        let from = request.get_ref().from_sequence;
        Ok(Response::new(watch_for(&self.runtime.events, &caller, from)?))
    }
}
