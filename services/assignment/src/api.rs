//! gRPC handlers of the assignment service: decode, authorise, call the domain, encode.
//!
//! RPCs not built yet answer `UNIMPLEMENTED` (the generated default stubs).

use maitre_kit::{
    auth::Caller,
    eventlog::{BoxEventStream, watch_for},
    runtime::Runtime,
};
use maitre_proto::assignment::v1::{WatchRequest, assignment_service_server::AssignmentService};
use tonic::{Request, Response, Status};

/// The assignment service's handlers.
#[derive(Clone)]
pub struct AssignmentServiceApi {
    runtime: Runtime,
}

impl AssignmentServiceApi {
    /// Handlers over the service's runtime.
    pub fn new(runtime: Runtime) -> Self {
        Self { runtime }
    }
}

#[tonic::async_trait]
impl AssignmentService for AssignmentServiceApi {
    async fn watch(
        &self,
        request: Request<WatchRequest>,
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
