//! gRPC handlers of the assignment service: decode, authorise, call the engine, encode.
//! One submodule per RPC family; the trait impl here only routes.

mod changes;
mod ownership;
mod policy;
mod roster;
mod scope;

use std::sync::Arc;

use maitre_kit::{
    auth::Caller,
    eventlog::{BoxEventStream, watch_for},
};
use maitre_proto::assignment::v1::{self as pb, assignment_service_server::AssignmentService};
use tonic::{Request, Response, Status};

use crate::app::Engine;

/// The assignment service's handlers.
#[derive(Clone)]
pub struct AssignmentServiceApi {
    engine: Arc<Engine>,
}

impl AssignmentServiceApi {
    /// Handlers over the service's engine.
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn reply<T>(result: Result<T, crate::error::Error>) -> Reply<T> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl AssignmentService for AssignmentServiceApi {
    async fn upsert_manager(
        &self,
        request: Request<pb::UpsertManagerRequest>,
    ) -> Reply<pb::UpsertManagerResponse> {
        let caller = Caller::from_request(&request)?;
        reply(roster::upsert_manager(&self.engine, &caller, request.into_inner()).await)
    }

    async fn get_manager(
        &self,
        request: Request<pb::GetManagerRequest>,
    ) -> Reply<pb::GetManagerResponse> {
        let caller = Caller::from_request(&request)?;
        reply(roster::get_manager(&self.engine, &caller, request.into_inner()).await)
    }

    async fn list_managers(
        &self,
        request: Request<pb::ListManagersRequest>,
    ) -> Reply<pb::ListManagersResponse> {
        let caller = Caller::from_request(&request)?;
        reply(roster::list_managers(&self.engine, &caller, request.into_inner()).await)
    }

    async fn set_manager_status(
        &self,
        request: Request<pb::SetManagerStatusRequest>,
    ) -> Reply<pb::SetManagerStatusResponse> {
        let caller = Caller::from_request(&request)?;
        reply(roster::set_manager_status(&self.engine, &caller, request.into_inner()).await)
    }

    async fn get_policy(
        &self,
        request: Request<pb::GetPolicyRequest>,
    ) -> Reply<pb::GetPolicyResponse> {
        let caller = Caller::from_request(&request)?;
        reply(policy::get_policy(&self.engine, &caller, request.into_inner()).await)
    }

    async fn update_policy(
        &self,
        request: Request<pb::UpdatePolicyRequest>,
    ) -> Reply<pb::UpdatePolicyResponse> {
        let caller = Caller::from_request(&request)?;
        reply(policy::update_policy(&self.engine, &caller, request.into_inner()).await)
    }

    async fn get_lock_review(
        &self,
        request: Request<pb::GetLockReviewRequest>,
    ) -> Reply<pb::GetLockReviewResponse> {
        let caller = Caller::from_request(&request)?;
        reply(policy::get_lock_review(&self.engine, &caller, request.into_inner()).await)
    }

    async fn assign_on_contact(
        &self,
        request: Request<pb::AssignOnContactRequest>,
    ) -> Reply<pb::AssignOnContactResponse> {
        let caller = Caller::from_request(&request)?;
        reply(ownership::assign_on_contact(&self.engine, &caller, request.into_inner()).await)
    }

    async fn get_ownership(
        &self,
        request: Request<pb::GetOwnershipRequest>,
    ) -> Reply<pb::GetOwnershipResponse> {
        let caller = Caller::from_request(&request)?;
        reply(ownership::get_ownership(&self.engine, &caller, request.into_inner()).await)
    }

    async fn list_ownership_history(
        &self,
        request: Request<pb::ListOwnershipHistoryRequest>,
    ) -> Reply<pb::ListOwnershipHistoryResponse> {
        let caller = Caller::from_request(&request)?;
        reply(ownership::list_history(&self.engine, &caller, request.into_inner()).await)
    }

    async fn list_manager_customers(
        &self,
        request: Request<pb::ListManagerCustomersRequest>,
    ) -> Reply<pb::ListManagerCustomersResponse> {
        let caller = Caller::from_request(&request)?;
        reply(ownership::list_manager_customers(&self.engine, &caller, request.into_inner()).await)
    }

    async fn list_unassigned(
        &self,
        request: Request<pb::ListUnassignedRequest>,
    ) -> Reply<pb::ListUnassignedResponse> {
        let caller = Caller::from_request(&request)?;
        reply(ownership::list_unassigned(&self.engine, &caller, request.into_inner()).await)
    }

    async fn transfer_customer(
        &self,
        request: Request<pb::TransferCustomerRequest>,
    ) -> Reply<pb::TransferCustomerResponse> {
        let caller = Caller::from_request(&request)?;
        reply(changes::transfer(&self.engine, &caller, request.into_inner()).await)
    }

    async fn start_bulk_transfer(
        &self,
        request: Request<pb::StartBulkTransferRequest>,
    ) -> Reply<pb::StartBulkTransferResponse> {
        let caller = Caller::from_request(&request)?;
        reply(changes::start_bulk(&self.engine, &caller, request.into_inner()).await)
    }

    async fn get_bulk_transfer(
        &self,
        request: Request<pb::GetBulkTransferRequest>,
    ) -> Reply<pb::GetBulkTransferResponse> {
        let caller = Caller::from_request(&request)?;
        reply(changes::get_bulk(&self.engine, &caller, request.into_inner()).await)
    }

    async fn lock_customer(
        &self,
        request: Request<pb::LockCustomerRequest>,
    ) -> Reply<pb::LockCustomerResponse> {
        let caller = Caller::from_request(&request)?;
        reply(changes::lock(&self.engine, &caller, request.into_inner()).await)
    }

    async fn unlock_customer(
        &self,
        request: Request<pb::UnlockCustomerRequest>,
    ) -> Reply<pb::UnlockCustomerResponse> {
        let caller = Caller::from_request(&request)?;
        reply(changes::unlock(&self.engine, &caller, request.into_inner()).await)
    }

    async fn get_manager_stats(
        &self,
        request: Request<pb::GetManagerStatsRequest>,
    ) -> Reply<pb::GetManagerStatsResponse> {
        let caller = Caller::from_request(&request)?;
        reply(changes::stats(&self.engine, &caller, request.into_inner()).await)
    }

    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<BoxEventStream>, Status> {
        let caller = Caller::from_request(&request)?;
        let stream = watch_for(
            &self.engine.runtime.events,
            &caller,
            request.get_ref().from_sequence,
        )?;
        Ok(Response::new(stream))
    }
}
