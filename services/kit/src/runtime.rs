//! What every service builds once at start and passes explicitly to its handlers:
//! database (migrated), coordination, token verifier and minter, event log.

use std::{future::Future, sync::Arc};

use maitre_proto::events::v1::event_log_service_server::EventLogServiceServer;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;
use tonic::service::Routes;

/// The gRPC name of the event-log service every service serves.
pub const EVENT_LOG_SERVICE: &str = "maitre.events.v1.EventLogService";

use crate::{
    auth::{AuthError, AuthInterceptor, Minter, Verifier},
    config::Config,
    coord::{self, CoordError, Coordination},
    db::{self, DbError},
    eventlog::{ConsumerRegistry, EventLog, EventLogApi},
    server::{ServeError, serve_grpc},
};

/// Why a service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Database connection or migration.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Coordination backend.
    #[error("coordination: {0}")]
    Coord(#[from] CoordError),
    /// Keys and tokens.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Serving.
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// The shared dependencies of one service process.
#[derive(Clone)]
pub struct Runtime {
    /// Configuration.
    pub config: Config,
    /// The service's database, migrated.
    pub db: DatabaseConnection,
    /// Locks, balances, windows, leases.
    pub coord: Arc<dyn Coordination>,
    /// Verifies callers' tokens.
    pub verifier: Verifier,
    /// Mints this service's own identity for internal calls.
    pub minter: Minter,
    /// The service's event log.
    pub events: Arc<EventLog>,
    /// The consumers of other services' logs this process runs (for their lag).
    pub consumers: Arc<ConsumerRegistry>,
}

impl Runtime {
    /// Opens the database (migrated with `M` where the service may, see
    /// [`db::open_for_service`]), connects coordination, loads keys.
    pub async fn start<M: MigratorTrait>(config: Config) -> Result<Self, RuntimeError> {
        let verifier = Verifier::from_config(&config)?;
        let minter = Minter::from_config(&config)?;
        let db = db::open_for_service::<M>(
            &config.database_url,
            &config.database_schema,
            &config.database_pool,
            config.migrate_on_start,
        )
        .await?;
        let prefix = format!("{}{}:", config.redis_prefix, config.service.as_str());
        let coord = coord::connect(config.redis_url.as_deref(), &prefix).await?;
        let source = config.service.as_str();
        let events = EventLog::new(db.clone(), source, Some(coord.clone()));
        Ok(Self {
            config,
            db,
            coord,
            verifier,
            minter,
            events,
            consumers: Arc::default(),
        })
    }

    /// The interceptor that authenticates every call of the service.
    pub fn auth(&self) -> AuthInterceptor {
        AuthInterceptor::new(self.verifier.clone())
    }

    /// Serves `routes` and the event-log service every service shares
    /// (`maitre.events.v1.EventLogService`) until `shutdown`, running the event publisher
    /// beside it.
    pub async fn serve(
        &self,
        service_names: &[&str],
        routes: Routes,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), RuntimeError> {
        let (stop_publisher, publisher_stopped) = tokio::sync::oneshot::channel::<()>();
        let publisher = tokio::spawn(self.events.clone().run_publisher(async {
            let _ = publisher_stopped.await;
        }));
        let outbox_metrics = tokio::spawn(crate::eventlog::report_outbox(
            self.events.clone(),
            self.config.service.as_str(),
        ));
        let events = self.events.clone();
        let shutdown = async move {
            shutdown.await;
            // End live Watch streams so draining does not wait for them forever.
            events.close();
        };
        let event_log = EventLogServiceServer::with_interceptor(
            EventLogApi::new(
                self.events.clone(),
                self.db.clone(),
                self.consumers.clone(),
                self.config.clone(),
                self.minter.clone(),
            ),
            self.auth(),
        );
        let routes = routes.add_service(event_log);
        let mut names = service_names.to_vec();
        names.push(EVENT_LOG_SERVICE);
        let result = serve_grpc(&names, routes, listener, shutdown).await;
        let _ = stop_publisher.send(());
        let _ = publisher.await;
        outbox_metrics.abort();
        tracing::info!(service = self.config.service.as_str(), "stopped");
        Ok(result?)
    }
}
