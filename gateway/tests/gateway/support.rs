//! A tiny in-test profile service (CreateStore, GetStore, Watch) behind the real auth
//! interceptor, served by the services' own server builder (`maitre_kit::server`), and a
//! gateway in front of it on fresh coordination of each backend. Of the other upstreams,
//! assignment and notification are down and tagging drops every connection it accepts.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use futures::Stream;
use maitre_gateway::GatewayOptions;
use maitre_kit::{
    auth::{AuthInterceptor, Caller, DEVELOPMENT_SECRET, Role, Verifier},
    config::ServiceName,
    error::{invalid_argument, not_found},
    testing::{self, Backend, RunningService, TestConfig},
};
use maitre_proto::{
    events::v1::{
        Event, EventScope, GetLogHeadRequest, GetLogHeadResponse, StoreChanged, WatchRequest,
        event::Payload,
        event_log_service_server::{EventLogService, EventLogServiceServer},
    },
    profile::v1::{
        CreateStoreRequest, CreateStoreResponse, GetStoreRequest, GetStoreResponse, Store,
        profile_service_server::{ProfileService, ProfileServiceServer},
    },
};
use tonic::{Request, Response, Status};

/// The fake's state: stores by (chain, id), its event log, and how many calls reached it.
#[derive(Default)]
pub struct FakeProfile {
    stores: Mutex<HashMap<(String, String), Store>>,
    log: Mutex<Vec<Event>>,
    appended: tokio::sync::Notify,
    /// Calls that passed the interceptor.
    pub calls: AtomicUsize,
    /// The forwarded headers ([`SEEN_HEADERS`]) of the last GetStore call.
    pub last_headers: Mutex<HashMap<&'static str, String>>,
}

/// Headers the fake records of each GetStore call: the forwarded ones, and two that must
/// never be forwarded.
pub const SEEN_HEADERS: [&str; 6] = [
    "x-request-id",
    "traceparent",
    "tracestate",
    "accept-language",
    "x-custom",
    "cookie",
];

type EventStream = Pin<Box<dyn Stream<Item = Result<Event, Status>> + Send>>;

/// The fake as a tonic service (a local type, for the orphan rule).
#[derive(Clone)]
pub struct FakeService(pub Arc<FakeProfile>);

impl std::ops::Deref for FakeService {
    type Target = FakeProfile;
    fn deref(&self) -> &FakeProfile {
        &self.0
    }
}

#[tonic::async_trait]
impl ProfileService for FakeService {
    async fn create_store(
        &self,
        request: Request<CreateStoreRequest>,
    ) -> Result<Response<CreateStoreResponse>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let caller = Caller::from_request(&request)?;
        let chain = caller.chain()?.to_owned();
        caller.require_role(&[Role::HqAdmin])?;
        let mut store = request
            .into_inner()
            .store
            .ok_or_else(|| invalid_argument("store", "is required"))?;
        if store.name.trim().is_empty() {
            return Err(invalid_argument("store.name", "must not be empty"));
        }
        let mut stores = self.stores.lock().unwrap();
        store.store_id = format!("s{}", stores.len() + 1);
        stores.insert((chain.clone(), store.store_id.clone()), store.clone());
        drop(stores);
        let mut log = self.log.lock().unwrap();
        let sequence = log.len() as u64 + 1;
        log.push(Event {
            sequence,
            chain_id: chain,
            source: "profile".into(),
            scope: Some(EventScope {
                store_id: store.store_id.clone(),
                ..Default::default()
            }),
            payload: Some(Payload::StoreChanged(StoreChanged {
                store_id: store.store_id.clone(),
                name: store.name.clone(),
                time_zone: store.time_zone.clone(),
            })),
            ..Default::default()
        });
        drop(log);
        self.appended.notify_waiters();
        Ok(Response::new(CreateStoreResponse { store: Some(store) }))
    }

    async fn get_store(
        &self,
        request: Request<GetStoreRequest>,
    ) -> Result<Response<GetStoreResponse>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        {
            let mut seen = self.last_headers.lock().unwrap();
            seen.clear();
            for name in SEEN_HEADERS {
                if let Some(value) = request.metadata().get(name).and_then(|v| v.to_str().ok()) {
                    seen.insert(name, value.to_owned());
                }
            }
        }
        let caller = Caller::from_request(&request)?;
        let key = (
            caller.chain()?.to_owned(),
            request.get_ref().store_id.clone(),
        );
        let store = self.stores.lock().unwrap().get(&key).cloned();
        let store = store.ok_or_else(|| not_found("store", &key.1))?;
        Ok(Response::new(GetStoreResponse { store: Some(store) }))
    }

    /// The service's own `Watch`: the same stream as the shared event-log service's.
    async fn watch(
        &self,
        request: Request<maitre_proto::profile::v1::WatchRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let (metadata, extensions, message) = request.into_parts();
        let request = Request::from_parts(
            metadata,
            extensions,
            WatchRequest {
                from_sequence: message.from_sequence,
            },
        );
        EventLogService::watch(self, request).await
    }
}

/// The fake's event log, served like every service's (`maitre.events.v1.EventLogService`).
#[tonic::async_trait]
impl EventLogService for FakeService {
    async fn get_log_head(
        &self,
        request: Request<GetLogHeadRequest>,
    ) -> Result<Response<GetLogHeadResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        let chain = caller.chain()?.to_owned();
        let head_sequence = self
            .0
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|event| event.chain_id == chain)
            .map(|event| event.sequence)
            .max()
            .unwrap_or_default();
        Ok(Response::new(GetLogHeadResponse {
            head_sequence,
            ..Default::default()
        }))
    }

    async fn watch(&self, request: Request<WatchRequest>) -> Result<Response<EventStream>, Status> {
        let caller = Caller::from_request(&request)?;
        let chain = caller.chain()?.to_owned();
        let mut cursor = request.get_ref().from_sequence;
        let fake = Arc::clone(&self.0);
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                let appended = fake.appended.notified();
                let next: Vec<Event> = fake.log.lock().unwrap()[cursor as usize..].to_vec();
                for event in next {
                    cursor = event.sequence;
                    if event.chain_id == chain && tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                tokio::select! {
                    _ = appended => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

/// A gateway in front of the fake profile service (other upstreams down), and both URLs.
pub struct Setup {
    /// The fake behind the gateway.
    pub fake: Arc<FakeProfile>,
    /// The gateway's `http://127.0.0.1:<port>`.
    pub url: String,
    /// The fake profile service's own URL.
    pub fake_url: String,
    _gateway: RunningService,
    _config: TestConfig,
    _stop_fake: tokio::sync::oneshot::Sender<()>,
}

/// Starts the fake profile service and a gateway with `options` on `backend`.
pub async fn setup(backend: Backend, options: GatewayOptions) -> Setup {
    let fake = Arc::new(FakeProfile::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let auth = AuthInterceptor::new(Verifier::hs256(DEVELOPMENT_SECRET));
    let service =
        ProfileServiceServer::with_interceptor(FakeService(Arc::clone(&fake)), auth.clone());
    let event_log = EventLogServiceServer::with_interceptor(FakeService(Arc::clone(&fake)), auth);
    tokio::spawn(async move {
        maitre_kit::server::serve_grpc(
            &[
                "maitre.profile.v1.ProfileService",
                "maitre.events.v1.EventLogService",
            ],
            tonic::service::Routes::new(service).add_service(event_log),
            listener,
            async {
                let _ = stopped.await;
            },
        )
        .await
        .unwrap();
    });
    // Nothing listens on port 9: those services are down.
    let down = "http://127.0.0.1:9";
    let dropping = connection_dropper().await;
    let config = TestConfig::new(
        ServiceName::Gateway,
        backend,
        &[
            ("MAITRE_PROFILE_URL", &fake_url),
            ("MAITRE_ASSIGNMENT_URL", down),
            ("MAITRE_TAGGING_URL", &dropping),
            ("MAITRE_NOTIFICATION_URL", down),
        ],
    );
    let gateway = testing::spawn(config.config.clone(), move |c, l, s| {
        maitre_gateway::serve_with(c, options, l, s)
    })
    .await;
    Setup {
        fake,
        url: gateway.url.clone(),
        fake_url,
        _gateway: gateway,
        _config: config,
        _stop_fake: stop,
    }
}

/// An upstream whose connections break under every call: it accepts, reads the first
/// bytes of the call and closes (the transport failure a crashing pod gives).
async fn connection_dropper() -> String {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut first = [0u8; 64];
            let _ = socket.read(&mut first).await;
        }
    });
    url
}

/// A development token.
pub fn token(role: Role, staff: &str) -> String {
    testing::token("chain-1", role, staff, &["s1"])
}

/// `Bearer <hq admin token>`.
pub fn hq() -> String {
    format!("Bearer {}", token(Role::HqAdmin, "hq-1"))
}
