//! `eventlog::follow`: a consumer follows another service's `Watch` with its own identity,
//! applies each event once, in order, with its cursor.

use maitre_kit::on_both_backends;
use std::sync::{Arc, Mutex};

use maitre_kit::{
    auth::{AuthInterceptor, Caller, DEVELOPMENT_SECRET, Verifier},
    config::ServiceName,
    eventlog::{
        BoxEventStream, ConsumeError, ConsumerLeases, EventHandler, EventLog, KitTables,
        PublishedSequenceIndexes, follow, watch_for,
    },
    runtime::Runtime,
    server::serve_grpc,
    testing::{Backend, TestConfig, TestDb},
};
use maitre_proto::events::v1::{
    CustomerCreated, Event, EventScope, WatchRequest,
    event::Payload,
    event_log_service_server::{EventLogService, EventLogServiceServer},
};
use sea_orm::{DatabaseTransaction, TransactionTrait};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use tonic::{Request, Response, Status, service::Routes};

struct Migrator;
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(KitTables),
            Box::new(PublishedSequenceIndexes),
            Box::new(ConsumerLeases),
        ]
    }
}

/// A profile service that serves only its event log's `Watch`.
struct FakeProfile {
    log: Arc<EventLog>,
}

#[tonic::async_trait]
impl EventLogService for FakeProfile {
    async fn watch(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<BoxEventStream>, Status> {
        let caller = Caller::from_request(&request)?;
        Ok(Response::new(watch_for(
            &self.log,
            &caller,
            request.get_ref().from_sequence,
        )?))
    }
}

struct Recorder {
    seen: Mutex<Vec<(u64, String)>>,
}

#[async_trait::async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, _txn: &DatabaseTransaction, event: &Event) -> Result<(), ConsumeError> {
        let customer = match &event.payload {
            Some(Payload::CustomerCreated(c)) => c.customer_id.clone(),
            _ => String::new(),
        };
        self.seen.lock().unwrap().push((event.sequence, customer));
        Ok(())
    }
}

async fn append(log: &EventLog, db: &sea_orm::DatabaseConnection, customer: &str) {
    let txn = db.begin().await.unwrap();
    let payload = Payload::CustomerCreated(CustomerCreated {
        customer_id: customer.into(),
        home_store_id: String::new(),
    });
    log.append(&txn, "chain-1", EventScope::default(), payload)
        .await
        .unwrap();
    txn.commit().await.unwrap();
    log.committed();
}

async fn follows_in_order(backend: Backend) {
    // The upstream: an event log served over gRPC.
    let source = TestDb::new::<Migrator>(backend).await;
    let log = EventLog::new(source.db.clone(), "profile", None);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(log.clone().run_publisher(async {
        let _ = stopped.await;
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let service = EventLogServiceServer::with_interceptor(
        FakeProfile { log: log.clone() },
        AuthInterceptor::new(Verifier::hs256(DEVELOPMENT_SECRET)),
    );
    tokio::spawn(serve_grpc(
        &["maitre.events.v1.EventLogService"],
        Routes::new(service),
        listener,
        std::future::pending(),
    ));
    for c in ["a", "b"] {
        append(&log, &source.db, c).await;
    }

    // The follower: a tagging runtime pointed at it.
    let config = TestConfig::new(
        ServiceName::Tagging,
        backend,
        &[("MAITRE_PROFILE_URL", &url)],
    );
    let runtime = Runtime::start::<Migrator>(config.config.clone())
        .await
        .unwrap();
    let recorder = Arc::new(Recorder {
        seen: Mutex::new(Vec::new()),
    });
    let (halt, halted) = tokio::sync::oneshot::channel::<()>();
    let following = {
        let (runtime, recorder) = (runtime.clone(), recorder.clone());
        tokio::spawn(async move {
            follow(
                &runtime,
                "tagging<-profile",
                ServiceName::Profile,
                recorder,
                async {
                    let _ = halted.await;
                },
            )
            .await
        })
    };
    append(&log, &source.db, "c").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while recorder.seen.lock().unwrap().len() < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let seen = recorder.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![(1, "a".into()), (2, "b".into()), (3, "c".into())]
    );
    let _ = halt.send(());
    following.await.unwrap();
    let _ = stop.send(());
}

on_both_backends!(follows_in_order);
