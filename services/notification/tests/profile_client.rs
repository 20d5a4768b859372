//! The gRPC follow-up plan target against a local fake profile server: the request carries the plan,
//! the occurrence's request id and a service token scoped to the action's chain; profile's answers are
//! classified for the retry policy (server trouble transient, a refused request permanent).

use std::sync::{Arc, Mutex};

use maitre_kit::auth::{DEVELOPMENT_SECRET, Minter, Role, Verifier};
use maitre_notification::app::actions::{FollowUpPlanAction, FollowUpPlans, ProfileFollowUpPlans};
use maitre_notification::providers::ProviderError;
use maitre_proto::profile::v1::profile_service_server::{ProfileService, ProfileServiceServer};
use maitre_proto::profile::v1::{CreateFollowUpPlanRequest, CreateFollowUpPlanResponse};
use tonic::{Request, Response, Status};

/// What the fake saw: the caller's chain and role, and the request.
type Seen = (String, Role, CreateFollowUpPlanRequest);

#[derive(Clone, Default)]
struct FakeProfile {
    seen: Arc<Mutex<Vec<Seen>>>,
}

#[tonic::async_trait]
impl ProfileService for FakeProfile {
    async fn create_follow_up_plan(
        &self,
        request: Request<CreateFollowUpPlanRequest>,
    ) -> Result<Response<CreateFollowUpPlanResponse>, Status> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("no token"))?;
        let caller = Verifier::hs256(DEVELOPMENT_SECRET).verify(token)?;
        let body = request.into_inner();
        self.seen
            .lock()
            .expect("lock")
            .push((caller.chain_id.clone(), caller.role, body.clone()));
        let mut plan = body.plan.unwrap_or_default();
        match plan.customer_id.as_str() {
            "busy" => Err(Status::unavailable("profile restarting")),
            "unknown" => Err(Status::not_found("customer `unknown` not found")),
            _ => {
                plan.plan_id = format!("plan-for-{}", body.request_id);
                Ok(Response::new(CreateFollowUpPlanResponse {
                    plan: Some(plan),
                }))
            }
        }
    }
}

async fn serve(fake: FakeProfile) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(ProfileServiceServer::new(fake))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
    });
    url
}

fn plan(customer: &str) -> FollowUpPlanAction {
    FollowUpPlanAction {
        customer_id: customer.into(),
        manager_id: "wang".into(),
        title: "A类到店回访".into(),
        due_at_us: 1_800_000_000_000_000,
        request_id: format!("follow_up:a1:{customer}"),
    }
}

#[tokio::test]
async fn plans_are_created_as_the_chains_notification_service() {
    let fake = FakeProfile::default();
    let url = serve(fake.clone()).await;
    let channel = maitre_kit::client::lazy_channel(&url).expect("channel");
    let plans = ProfileFollowUpPlans::new(channel, Minter::hs256(DEVELOPMENT_SECRET));
    let created = plans
        .create("chain-9", "a1", &plan("g1"))
        .await
        .expect("created");
    assert_eq!(created, "plan-for-follow_up:a1:g1");
    let seen = fake.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    let (chain, role, request) = &seen[0];
    assert_eq!(
        chain, "chain-9",
        "a token for the event's chain, not all chains"
    );
    assert_eq!(*role, Role::Service);
    assert_eq!(request.request_id, "follow_up:a1:g1");
    let sent = request.plan.clone().expect("plan");
    assert_eq!(sent.manager_id, "wang");
    assert_eq!(sent.title, "A类到店回访");
    assert_eq!(
        sent.source, "automation:a1",
        "the plan says which automation made it"
    );
    assert_eq!(sent.due_at.map(|t| t.seconds), Some(1_800_000_000));

    let busy = plans.create("chain-9", "a1", &plan("busy")).await;
    assert!(
        matches!(busy, Err(ProviderError::Transient { .. })),
        "unavailable is retried: {busy:?}"
    );
    let unknown = plans.create("chain-9", "a1", &plan("unknown")).await;
    assert!(
        matches!(unknown, Err(ProviderError::Permanent { .. })),
        "not found dead-letters: {unknown:?}"
    );
}

#[tokio::test]
async fn an_unreachable_profile_is_a_transient_failure() {
    // Nothing listens on port 1.
    let channel = maitre_kit::client::lazy_channel("http://127.0.0.1:1").expect("channel");
    let plans = ProfileFollowUpPlans::new(channel, Minter::hs256(DEVELOPMENT_SECRET));
    let result = plans.create("chain-9", "a1", &plan("g1")).await;
    assert!(
        matches!(result, Err(ProviderError::Transient { .. })),
        "{result:?}"
    );
}
