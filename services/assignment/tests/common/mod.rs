//! Test harness: the real assignment service on port 0 (SQLite + in-process coordination,
//! or PostgreSQL + Redis) and a client speaking for HQ of `chain-1`.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use maitre_kit::auth::Role;
use maitre_kit::client::outgoing;
use maitre_kit::config::ServiceName;
use maitre_kit::testing::{self, Backend, RunningService, TestConfig};
use maitre_proto::assignment::v1::{
    self as pb, assignment_service_client::AssignmentServiceClient,
};
use tonic::transport::Channel;

pub const CHAIN: &str = "chain-1";
pub const STORE: &str = "s1";

/// Tests run on a multi-threaded runtime: dropping the harness drops the PostgreSQL schema
/// synchronously, which waits for the stopping service's open transactions — on a
/// single-threaded runtime those could never finish.
pub struct Harness {
    pub services: Vec<RunningService>,
    pub clients: Vec<AssignmentServiceClient<Channel>>,
    pub config: TestConfig,
}

pub async fn client(url: &str) -> AssignmentServiceClient<Channel> {
    AssignmentServiceClient::connect(url.to_owned())
        .await
        .expect("connect to the service")
}

impl Harness {
    /// `replicas` service instances on the SAME database and Redis namespace.
    pub async fn start(backend: Backend, replicas: usize) -> Self {
        let config = TestConfig::new(
            ServiceName::Assignment,
            backend,
            &[("MAITRE_PROFILE_URL", "http://127.0.0.1:1")],
        );
        let mut services = Vec::new();
        let mut clients = Vec::new();
        for _ in 0..replicas.max(1) {
            let svc = testing::spawn(config.config.clone(), |c, l, s| {
                maitre_assignment::serve(c, l, s)
            })
            .await;
            clients.push(client(&svc.url).await);
            services.push(svc);
        }
        Self {
            services,
            clients,
            config,
        }
    }

    pub fn api(&self) -> AssignmentServiceClient<Channel> {
        self.clients[0].clone()
    }

    /// The Redis key prefix of the service's coordination (for flush tests).
    pub fn coordination_prefix(&self) -> String {
        format!("{}assignment:", self.config.config.redis_prefix)
    }
}

pub fn hq() -> String {
    testing::token(CHAIN, Role::HqAdmin, "hq-1", &[])
}

pub fn service() -> String {
    testing::token(CHAIN, Role::Service, "service:profile", &[])
}

pub fn req<T>(message: T) -> tonic::Request<T> {
    outgoing(message, &hq())
}

/// 2026-03-02 10:00 Shanghai plus `seconds`.
pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0)
        .single()
        .expect("valid")
        + chrono::Duration::seconds(seconds)
}

pub fn ts(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: 0,
    }
}

pub async fn add_manager(
    api: &mut AssignmentServiceClient<Channel>,
    id: &str,
    stores: &[&str],
    capacity: i64,
) {
    api.upsert_manager(req(pb::UpsertManagerRequest {
        manager: Some(pb::Manager {
            manager_id: id.to_owned(),
            name: id.to_uppercase(),
            store_ids: stores.iter().map(|s| (*s).to_owned()).collect(),
            capacity,
            status: pb::ManagerStatus::OnDuty as i32,
            ..Default::default()
        }),
        request_id: String::new(),
    }))
    .await
    .expect("upsert manager");
}

pub async fn set_policy(
    api: &mut AssignmentServiceClient<Channel>,
    policy: pb::Policy,
    paths: &[&str],
) {
    api.update_policy(req(pb::UpdatePolicyRequest {
        policy: Some(policy),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }),
    }))
    .await
    .expect("update policy");
}

pub struct Contact<'a> {
    pub customer: &'a str,
    pub via: &'a str,
    pub amount_fen: i64,
    pub at: DateTime<Utc>,
    pub event: &'a str,
}

pub fn contact_request(contact: &Contact<'_>) -> pb::AssignOnContactRequest {
    pb::AssignOnContactRequest {
        customer_id: contact.customer.to_owned(),
        store_id: STORE.to_owned(),
        contact_manager_id: contact.via.to_owned(),
        amount_fen: contact.amount_fen,
        occurred_at: Some(ts(contact.at)),
        source_event_id: contact.event.to_owned(),
        latest_other_contact_time: None,
    }
}

pub async fn contact(
    api: &mut AssignmentServiceClient<Channel>,
    contact: Contact<'_>,
) -> pb::AssignOnContactResponse {
    api.assign_on_contact(outgoing(contact_request(&contact), &service()))
        .await
        .expect("assign on contact")
        .into_inner()
}

pub async fn ownership(
    api: &mut AssignmentServiceClient<Channel>,
    customer: &str,
) -> pb::Ownership {
    api.get_ownership(req(pb::GetOwnershipRequest {
        customer_id: customer.to_owned(),
    }))
    .await
    .expect("get ownership")
    .into_inner()
    .ownership
    .expect("ownership")
}

/// The whole history, oldest first.
pub async fn history(
    api: &mut AssignmentServiceClient<Channel>,
    customer: &str,
) -> Vec<pb::Decision> {
    let mut decisions = Vec::new();
    let mut token = String::new();
    loop {
        let page = api
            .list_ownership_history(req(pb::ListOwnershipHistoryRequest {
                customer_id: customer.to_owned(),
                page_size: 50,
                page_token: token,
            }))
            .await
            .expect("history")
            .into_inner();
        decisions.extend(page.decisions);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    decisions.reverse();
    decisions
}

pub async fn manager(api: &mut AssignmentServiceClient<Channel>, id: &str) -> pb::Manager {
    api.get_manager(req(pb::GetManagerRequest {
        manager_id: id.to_owned(),
    }))
    .await
    .expect("get manager")
    .into_inner()
    .manager
    .expect("manager")
}

pub fn reason(decision: &pb::Decision) -> pb::Reason {
    pb::Reason::try_from(decision.reason).unwrap_or_default()
}
