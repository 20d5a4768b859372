//! Test harness: the real profile service on port 0 (SQLite + in-process coordination, or
//! PostgreSQL + Redis), a fake owner decider standing in for assignment, and helpers to
//! build requests and events.
#![allow(dead_code)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use chrono::Utc;
use futures::StreamExt;
use maitre_kit::{
    auth::Role,
    client::outgoing,
    config::ServiceName,
    testing::{self, Backend, RunningService, TestConfig},
};
use maitre_profile::owner::{ContactForOwner, OwnerDecider};
use maitre_proto::{
    common::v1::{EventChannel, IdentityKey, IdentityKind, Money},
    events::v1::{ContactKind, Event, OrderLine},
    profile::v1::{self as pb, profile_service_client::ProfileServiceClient},
};
use tonic::{Request, transport::Channel};

pub const CHAIN: &str = "chain-1";
pub const STORE: &str = "sh-01";
pub const OWNER: &str = "wang";

/// Stands in for assignment: every customer belongs to `wang`; counts the calls.
#[derive(Default)]
pub struct FakeOwner {
    pub calls: AtomicUsize,
    /// `latest_other_contact_us` of every call, in order.
    pub latest_other: std::sync::Mutex<Vec<Option<i64>>>,
}

#[async_trait::async_trait]
impl OwnerDecider for FakeOwner {
    async fn owner_after_contact(
        &self,
        contact: &ContactForOwner,
        token: &str,
    ) -> pb::OwnerSummary {
        assert!(!token.is_empty(), "the caller's token is forwarded");
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.latest_other
            .lock()
            .expect("lock")
            .push(contact.latest_other_contact_us);
        pb::OwnerSummary {
            manager_id: OWNER.into(),
            locked: false,
            reason: "last_contact".into(),
            known: true,
        }
    }
}

pub struct Harness {
    pub service: RunningService,
    pub client: ProfileServiceClient<Channel>,
    pub owner: Arc<FakeOwner>,
    pub config: TestConfig,
}

impl Harness {
    /// The service with the fake owner decider and one store `sh-01`.
    pub async fn start(backend: Backend) -> Self {
        let config = TestConfig::new(ServiceName::Profile, backend, &[]);
        let owner = Arc::new(FakeOwner::default());
        let decider: Arc<dyn OwnerDecider> = owner.clone();
        let service = testing::spawn(config.config.clone(), move |c, l, s| {
            maitre_profile::serve_with(c, l, s, Some(decider))
        })
        .await;
        let client = ProfileServiceClient::connect(service.url.clone())
            .await
            .expect("connect");
        let harness = Self {
            service,
            client,
            owner,
            config,
        };
        harness.create_store(STORE).await;
        harness
    }

    pub fn api(&self) -> ProfileServiceClient<Channel> {
        self.client.clone()
    }

    pub async fn create_store(&self, id: &str) {
        self.api()
            .create_store(req(
                pb::CreateStoreRequest {
                    store: Some(pb::Store {
                        store_id: id.into(),
                        name: format!("Store {id}"),
                        ..pb::Store::default()
                    }),
                    request_id: String::new(),
                },
                &hq(),
            ))
            .await
            .expect("create store");
    }

    /// Records `event` as HQ and returns the response.
    pub async fn record(
        &self,
        event: pb::ContactEvent,
    ) -> Result<pb::RecordEventResponse, tonic::Status> {
        self.api()
            .record_event(req(pb::RecordEventRequest { event: Some(event) }, &hq()))
            .await
            .map(tonic::Response::into_inner)
    }

    /// The customer a phone number names, looked up as HQ (panics when there is none).
    pub async fn lookup_phone(&self, number: &str) -> pb::Customer {
        self.api()
            .lookup_customer(req(
                pb::LookupCustomerRequest {
                    identity_key: Some(phone(number)),
                },
                &hq(),
            ))
            .await
            .unwrap()
            .into_inner()
            .customer
            .unwrap()
    }

    pub async fn get(&self, id: &str, token: &str) -> Result<pb::Customer, tonic::Status> {
        self.api()
            .get_customer(req(
                pb::GetCustomerRequest {
                    customer_id: id.into(),
                },
                token,
            ))
            .await
            .map(|r| r.into_inner().customer.expect("customer"))
    }

    pub async fn customer_count(&self) -> usize {
        self.api()
            .list_customers(req(pb::ListCustomersRequest::default(), &hq()))
            .await
            .expect("list")
            .into_inner()
            .customers
            .len()
    }

    /// The events of the log until `until` matches one (or a timeout fails the test).
    pub async fn watch_until(&self, until: impl Fn(&Event) -> bool) -> Vec<Event> {
        let mut stream = self
            .api()
            .watch(req(pb::WatchRequest { from_sequence: 0 }, &hq()))
            .await
            .expect("watch")
            .into_inner();
        let mut seen = Vec::new();
        let collect = async {
            while let Some(Ok(event)) = stream.next().await {
                let done = until(&event);
                seen.push(event);
                if done {
                    break;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), collect)
            .await
            .expect("the awaited event arrives");
        seen
    }
}

pub fn req<T>(message: T, token: &str) -> Request<T> {
    outgoing(message, token)
}

pub fn hq() -> String {
    testing::token(CHAIN, Role::HqAdmin, "hq-1", &[])
}

pub fn front_desk() -> String {
    testing::token(CHAIN, Role::FrontDesk, "fd-1", &[STORE])
}

pub fn other_chain() -> String {
    testing::token("chain-2", Role::HqAdmin, "hq-2", &[])
}

pub fn phone(value: &str) -> IdentityKey {
    IdentityKey {
        kind: IdentityKind::Phone as i32,
        value: value.into(),
        ..Default::default()
    }
}

pub fn key(kind: IdentityKind, value: &str) -> IdentityKey {
    IdentityKey {
        kind: kind as i32,
        value: value.into(),
        ..Default::default()
    }
}

/// A POS visit of `amount_fen` an hour ago with one seafood dish.
pub fn visit(external_id: &str, keys: Vec<IdentityKey>, amount_fen: i64) -> pb::ContactEvent {
    let at = Utc::now() - chrono::Duration::hours(1);
    pb::ContactEvent {
        channel: EventChannel::Pos as i32,
        external_id: external_id.into(),
        kind: ContactKind::Visit as i32,
        identity_keys: keys,
        store_id: STORE.into(),
        amount: Some(Money {
            amount_fen,
            currency: String::new(),
        }),
        occurred_at: Some(prost_types::Timestamp {
            seconds: at.timestamp(),
            nanos: 0,
        }),
        party_size: 2,
        lines: vec![OrderLine {
            dish_name: "清蒸石斑".into(),
            category: "seafood".into(),
            quantity: 1,
            amount_fen,
            ..OrderLine::default()
        }],
        ..pb::ContactEvent::default()
    }
}

/// `event` moved `days` earlier: another store-local day, so another visit (orders on one
/// store-local day are one visit).
pub fn days_earlier(mut event: pb::ContactEvent, days: i64) -> pb::ContactEvent {
    if let Some(at) = event.occurred_at.as_mut() {
        at.seconds -= days * 86_400;
    }
    event
}

/// The field an `INVALID_ARGUMENT` names.
pub fn field(status: &tonic::Status) -> String {
    maitre_kit::error::field_of(status).unwrap_or_default()
}
