//! Harness: the real tagging service on port 0 over fresh storage, fed by fake profile and
//! notification event logs (`maitre.events.v1.EventLogService/Watch`, what every service
//! serves) the test appends events to.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::Utc;
use maitre_kit::{
    auth::Role,
    client::outgoing,
    config::ServiceName,
    testing::{self, Backend, RunningService, TestConfig},
};
use maitre_proto::{
    events::v1::{
        ContactKind, ContactRecorded, CustomerCreated, Event, GetLogHeadRequest,
        GetLogHeadResponse, OrderLine, WatchRequest,
        event::Payload,
        event_log_service_server::{EventLogService, EventLogServiceServer},
    },
    tagging::v1::{
        CreateTagRequest, GetJobRequest, ListCustomerTagsRequest, Tag, TagLifecycle, TagSource,
        TransitionTagRequest, tagging_service_client::TaggingServiceClient,
    },
};
use tonic::{Request, Response, Status, codegen::BoxStream, transport::Channel};

/// A profile service that only streams the events a test appends.
#[derive(Clone, Default)]
pub struct FakeProfile {
    events: Arc<Mutex<Vec<Event>>>,
}

impl FakeProfile {
    pub fn push(&self, chain: &str, payload: Payload) {
        self.push_at(chain, payload, None);
    }

    /// Appends an event that happened at `occurred_at`.
    pub fn push_at(
        &self,
        chain: &str,
        payload: Payload,
        occurred_at: Option<chrono::DateTime<Utc>>,
    ) {
        // Scoped to the guest as profile scopes its events, so a partitioned consumer
        // (PostgreSQL's default) spreads them by guest instead of treating each as a barrier.
        let customer_id = match &payload {
            Payload::CustomerCreated(e) => e.customer_id.clone(),
            Payload::ContactRecorded(e) => e.customer_id.clone(),
            Payload::CustomerUpdated(e) => e.customer_id.clone(),
            Payload::ClassChanged(e) => e.customer_id.clone(),
            Payload::CustomerErased(e) => e.customer_id.clone(),
            _ => String::new(),
        };
        let mut events = self.events.lock().expect("events");
        let sequence = events.len() as u64 + 1;
        events.push(Event {
            sequence,
            event_id: uuid::Uuid::new_v4().to_string(),
            chain_id: chain.to_owned(),
            source: "profile".into(),
            scope: Some(maitre_proto::events::v1::EventScope {
                customer_id,
                ..Default::default()
            }),
            payload: Some(payload),
            occurred_at: occurred_at.map(|at| prost_types::Timestamp {
                seconds: at.timestamp(),
                nanos: 0,
            }),
        });
    }

    fn after(&self, sequence: u64) -> Vec<Event> {
        let events = self.events.lock().expect("events");
        events
            .iter()
            .filter(|e| e.sequence > sequence)
            .cloned()
            .collect()
    }

    fn stream_from(&self, mut cursor: u64) -> BoxStream<Event> {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let source = self.clone();
        tokio::spawn(async move {
            loop {
                for event in source.after(cursor) {
                    cursor = event.sequence;
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
    }
}

#[tonic::async_trait]
impl EventLogService for FakeProfile {
    async fn watch(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<BoxStream<Event>>, Status> {
        Ok(Response::new(
            self.stream_from(request.get_ref().from_sequence),
        ))
    }

    /// What a refit asks before it fits: how much of the log tagging has not applied.
    async fn get_log_head(
        &self,
        request: Request<GetLogHeadRequest>,
    ) -> Result<Response<GetLogHeadResponse>, Status> {
        let request = request.into_inner();
        let events = self.events.lock().expect("events");
        let of_chain: Vec<&Event> = events
            .iter()
            .filter(|e| request.chain_id.is_empty() || e.chain_id == request.chain_id)
            .collect();
        let pending: Vec<&&Event> = of_chain
            .iter()
            .filter(|e| e.sequence > request.after_sequence)
            .collect();
        Ok(Response::new(GetLogHeadResponse {
            head_sequence: of_chain.iter().map(|e| e.sequence).max().unwrap_or(0),
            pending_events: pending.len() as u64,
            oldest_pending_time: pending.first().and(Some(prost_types::Timestamp {
                seconds: Utc::now().timestamp(),
                nanos: 0,
            })),
        }))
    }
}

/// Serves `router` on an ephemeral port; returns its URL.
async fn serve_fake(router: tonic::transport::server::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = router
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
    });
    url
}

pub struct Harness {
    pub profile: FakeProfile,
    pub notification: FakeProfile,
    pub client: TaggingServiceClient<Channel>,
    _service: RunningService,
    _config: TestConfig,
}

pub async fn start(backend: Backend) -> Harness {
    let profile = FakeProfile::default();
    let notification = FakeProfile::default();
    let profile_url = serve_fake(
        tonic::transport::Server::builder()
            .add_service(EventLogServiceServer::new(profile.clone())),
    )
    .await;
    let notification_url = serve_fake(
        tonic::transport::Server::builder()
            .add_service(EventLogServiceServer::new(notification.clone())),
    )
    .await;
    let config = TestConfig::new(
        ServiceName::Tagging,
        backend,
        &[
            ("MAITRE_PROFILE_URL", &profile_url),
            ("MAITRE_NOTIFICATION_URL", &notification_url),
            // One partition: these tests sync on a marker event (`sync_profile`), which
            // proves everything before it applied only when the stream is applied in order.
            // Partitioned consumption is covered by kit's tests and the scale-out journey.
            ("MAITRE_EVENT_PARTITIONS", "1"),
        ],
    );
    let service = testing::spawn(config.config.clone(), |c, l, s| {
        maitre_tagging::serve(c, l, s)
    })
    .await;
    let client = TaggingServiceClient::connect(service.url.clone())
        .await
        .expect("connect");
    Harness {
        profile,
        notification,
        client,
        _service: service,
        _config: config,
    }
}

/// A request from `role` of `chain`, at `store-1` (where `created` customers live).
pub fn req<T>(chain: &str, role: Role, message: T) -> Request<T> {
    req_at(chain, role, &["store-1"], message)
}

/// A request from `role` of `chain` scoped to `stores`.
pub fn req_at<T>(chain: &str, role: Role, stores: &[&str], message: T) -> Request<T> {
    outgoing(message, &testing::token(chain, role, "staff-1", stores))
}

pub fn admin<T>(chain: &str, message: T) -> Request<T> {
    req(chain, Role::HqAdmin, message)
}

/// Today in the chains' calendar, as profile sends `local_date`.
pub fn today() -> String {
    Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

pub fn created(customer: &str) -> Payload {
    Payload::CustomerCreated(CustomerCreated {
        customer_id: customer.into(),
        home_store_id: "store-1".into(),
    })
}

/// A visit today with `amount_fen` and one dish line per category.
pub fn visit(customer: &str, amount_fen: i64, categories: &[&str]) -> Payload {
    Payload::ContactRecorded(ContactRecorded {
        event_id: uuid::Uuid::new_v4().to_string(),
        customer_id: customer.into(),
        kind: ContactKind::Visit as i32,
        store_id: "store-1".into(),
        amount_fen,
        local_date: today(),
        lines: categories
            .iter()
            .map(|c| OrderLine {
                category: (*c).into(),
                quantity: 1,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    })
}

/// `visit` moved `days` earlier: another store-local day, so another visit (orders on one
/// day are one visit).
pub fn days_earlier(mut payload: Payload, days: u64) -> Payload {
    if let Payload::ContactRecorded(contact) = &mut payload {
        let date = chrono::NaiveDate::parse_from_str(&contact.local_date, "%Y-%m-%d")
            .expect("a local date")
            - chrono::Days::new(days);
        contact.local_date = date.format("%Y-%m-%d").to_string();
    }
    payload
}

impl Harness {
    /// Another replica of the service over the same storage (and the same profile).
    pub async fn second_replica(&self) -> (TaggingServiceClient<Channel>, RunningService) {
        let service = testing::spawn(self._config.config.clone(), |c, l, s| {
            maitre_tagging::serve(c, l, s)
        })
        .await;
        let client = TaggingServiceClient::connect(service.url.clone())
            .await
            .expect("connect");
        (client, service)
    }

    /// Creates a tag and moves it to active.
    pub async fn active_tag(
        &mut self,
        chain: &str,
        name: &str,
        source: TagSource,
        rule: &str,
    ) -> Tag {
        let tag = self
            .client
            .create_tag(admin(
                chain,
                CreateTagRequest {
                    tag: Some(Tag {
                        name: name.into(),
                        category: 2,
                        source: source as i32,
                        rule: rule.into(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .expect("create tag")
            .into_inner()
            .tag
            .expect("tag");
        self.client
            .transition_tag(admin(
                chain,
                TransitionTagRequest {
                    tag_id: tag.tag_id.clone(),
                    lifecycle: TagLifecycle::Active as i32,
                },
            ))
            .await
            .expect("activate")
            .into_inner()
            .tag
            .expect("tag")
    }

    /// Waits until the consumer has applied everything up to a `CustomerCreated` of `marker`.
    pub async fn sync_profile(&mut self, chain: &str, marker: &str) {
        self.profile.push(chain, created(marker));
        for _ in 0..400 {
            let known = self
                .client
                .list_customer_tags(admin(
                    chain,
                    ListCustomerTagsRequest {
                        customer_id: marker.into(),
                    },
                ))
                .await;
            if known.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the profile consumer did not reach {marker}");
    }

    /// Waits for a job to end and returns its final state.
    pub async fn wait_job(
        &mut self,
        chain: &str,
        job_id: &str,
    ) -> maitre_proto::common::v1::JobProgress {
        for _ in 0..400 {
            let job = self
                .client
                .get_job(admin(
                    chain,
                    GetJobRequest {
                        job_id: job_id.into(),
                    },
                ))
                .await
                .expect("get job")
                .into_inner()
                .progress
                .expect("progress");
            if job.state >= 3 {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("job {job_id} did not finish");
    }

    /// Customer ids carrying the tag, sorted.
    pub async fn members(&mut self, chain: &str, tag_id: &str) -> Vec<String> {
        let mut ids = self
            .client
            .list_tag_members(admin(
                chain,
                maitre_proto::tagging::v1::ListTagMembersRequest {
                    tag_id: tag_id.into(),
                    page_size: 1000,
                    page_token: String::new(),
                },
            ))
            .await
            .expect("members")
            .into_inner()
            .customer_ids;
        ids.sort();
        ids
    }
}
