//! Cross-service test harness: the whole system (four services and the gateway) started
//! on ephemeral ports, on the embedded backends or on PostgreSQL + Redis.

pub mod rest;
pub mod setup;
pub mod sink;

use maitre_kit::{
    config::ServiceName,
    testing::{Backend, RunningService, TestConfig, spawn},
};

/// Every service and the gateway, running; everything stops when dropped.
pub struct System {
    /// The gateway (HTTP/JSON, gRPC-Web, gRPC).
    pub gateway: RunningService,
    /// The profile service.
    pub profile: RunningService,
    /// The assignment service.
    pub assignment: RunningService,
    /// The tagging service.
    pub tagging: RunningService,
    /// The notification service.
    pub notification: RunningService,
    /// The assignment service's configuration (to start it again after an outage).
    assignment_config: maitre_kit::config::Config,
    /// Notification's configuration and settings (to start it again after a kill).
    notification_config: maitre_kit::config::Config,
    notification_settings: maitre_notification::Settings,
    /// Notification's own runtime when it can be killed ([`System::start_killable`]).
    notification_runtime: Option<OwnRuntime>,
    _configs: Vec<TestConfig>,
}

impl System {
    /// Starts the system on `backend`; upstream services first, each told where the others are.
    pub async fn start(backend: Backend) -> System {
        Self::start_with_notification_settings(backend, &[]).await
    }

    /// [`System::start`] with notification's own settings (e.g. its webhook provider, as an
    /// operator sets `MAITRE_NOTIFICATION_WEBHOOK_URL`).
    pub async fn start_with_notification_settings(
        backend: Backend,
        notification_settings: &[(&str, String)],
    ) -> System {
        Self::start_inner(backend, notification_settings, false, None).await
    }

    /// [`System::start_with_notification_settings`] with every service's consumers cut into
    /// `partitions` (`MAITRE_EVENT_PARTITIONS`), so replicas share them.
    pub async fn start_partitioned(
        backend: Backend,
        notification_settings: &[(&str, String)],
        partitions: u32,
    ) -> System {
        Self::start_inner(backend, notification_settings, false, Some(partitions)).await
    }

    /// [`System::start_with_notification_settings`] with notification in a runtime of its own,
    /// so [`System::kill_notification`] can stop it as a kill does: every task dropped at its
    /// current await (sends in flight, rounds not settled), nothing shut down gracefully.
    pub async fn start_killable(
        backend: Backend,
        notification_settings: &[(&str, String)],
    ) -> System {
        Self::start_inner(backend, notification_settings, true, None).await
    }

    async fn start_inner(
        backend: Backend,
        notification_settings: &[(&str, String)],
        killable: bool,
        partitions: Option<u32>,
    ) -> System {
        // Every service's consumers cut the same way (the services' own default otherwise).
        let partitioned = |mut c: TestConfig| {
            if let Some(p) = partitions {
                c.config.event_partitions = p;
            }
            c
        };
        // Upstream URLs are known only once each service has its port, so start in
        // dependency order: assignment (profile calls it), profile, tagging, notification.
        // Assignment also calls profile (its event stream, follow-up counts): profile's port
        // is chosen first and handed to both.
        let mut configs = Vec::new();
        let profile_listen = free_loopback_address();
        let profile_url = format!("http://{profile_listen}");
        // Profile follows notification's log (consent choices made there): its port is
        // chosen first too.
        // Held until notification binds it, so no other socket takes it meanwhile.
        let notification_port =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let notification_listen = notification_port
            .local_addr()
            .expect("local address")
            .to_string();
        let notification_url = format!("http://{notification_listen}");
        let a = partitioned(TestConfig::new(
            ServiceName::Assignment,
            backend,
            &[("MAITRE_PROFILE_URL", &profile_url)],
        ));
        let assignment = spawn(a.config.clone(), maitre_assignment::serve).await;
        let p = partitioned(TestConfig::new(
            ServiceName::Profile,
            backend,
            &[
                ("MAITRE_ASSIGNMENT_URL", &assignment.url),
                ("MAITRE_NOTIFICATION_URL", &notification_url),
                ("MAITRE_LISTEN", &profile_listen),
            ],
        ));
        let profile = spawn(p.config.clone(), maitre_profile::serve).await;
        let t = partitioned(TestConfig::new(
            ServiceName::Tagging,
            backend,
            &[
                ("MAITRE_PROFILE_URL", &profile.url),
                ("MAITRE_NOTIFICATION_URL", &notification_url),
            ],
        ));
        let tagging = spawn(t.config.clone(), maitre_tagging::serve).await;
        let n = partitioned(TestConfig::new(
            ServiceName::Notification,
            backend,
            &[
                ("MAITRE_PROFILE_URL", &profile.url),
                ("MAITRE_ASSIGNMENT_URL", &assignment.url),
                ("MAITRE_TAGGING_URL", &tagging.url),
                ("MAITRE_LISTEN", &notification_listen),
            ],
        ));
        let settings: std::collections::HashMap<String, String> = notification_settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let settings = maitre_notification::Settings::from_lookup(|key| settings.get(key).cloned());
        drop(notification_port);
        let notification_runtime = killable.then(OwnRuntime::new);
        let notification = spawn_notification(
            notification_runtime.as_ref().map(OwnRuntime::runtime),
            n.config.clone(),
            settings.clone(),
        )
        .await;
        let g = TestConfig::new(
            ServiceName::Gateway,
            backend,
            &[
                ("MAITRE_PROFILE_URL", &profile.url),
                ("MAITRE_ASSIGNMENT_URL", &assignment.url),
                ("MAITRE_TAGGING_URL", &tagging.url),
                ("MAITRE_NOTIFICATION_URL", &notification.url),
            ],
        );
        let gateway = spawn_gateway(g.config.clone()).await;
        let assignment_config = a.config.clone();
        let notification_config = n.config.clone();
        configs.extend([a, p, t, n, g]);
        System {
            gateway,
            profile,
            assignment,
            tagging,
            notification,
            assignment_config,
            notification_config,
            notification_settings: settings,
            notification_runtime,
            _configs: configs,
        }
    }

    /// Kills notification (started with [`System::start_killable`]): its runtime is shut down
    /// without waiting, as a killed process; its database keeps whatever was committed. Returns
    /// once its port is free.
    pub async fn kill_notification(&mut self) {
        // Dropped: shut down without waiting.
        self.notification_runtime
            .take()
            .expect("notification was started killable");
        wait_until_free(&address_of(&self.notification.url), "notification").await;
    }

    /// Starts notification again on the same address, database and settings (a new process).
    pub async fn restart_notification(&mut self) {
        let mut config = self.notification_config.clone();
        config.listen = address_of(&self.notification.url)
            .parse()
            .expect("notification address");
        let runtime = OwnRuntime::new();
        self.notification = spawn_notification(
            Some(runtime.runtime()),
            config,
            self.notification_settings.clone(),
        )
        .await;
        self.notification_runtime = Some(runtime);
    }

    /// An assignment outage: stops the service (its database stays) and returns once its
    /// port refuses connections.
    pub async fn stop_assignment(&mut self) {
        let address = address_of(&self.assignment.url);
        self.assignment.stop();
        wait_until_free(&address, "assignment").await;
    }

    /// Ends the outage: assignment starts again on the same address and database (on the
    /// embedded backend its in-process coordination starts empty, as after a Redis flush).
    pub async fn restart_assignment(&mut self) {
        let mut config = self.assignment_config.clone();
        config.listen = address_of(&self.assignment.url)
            .parse()
            .expect("assignment address");
        self.assignment = spawn(config, maitre_assignment::serve).await;
    }
}

impl System {
    /// The configuration `service` runs with: its database and schema, for a benchmark that
    /// reads a service's own tables (cursors, outbox) while it runs.
    pub fn config_of(
        &self,
        service: maitre_kit::config::ServiceName,
    ) -> &maitre_kit::config::Config {
        &self
            ._configs
            .iter()
            .find(|c| c.config.service == service)
            .expect("every service has a configuration")
            .config
    }

    /// Flushes assignment's coordination state (its Redis keys) on PostgreSQL + Redis; on
    /// the embedded backend coordination is in-process and a restart empties it.
    pub async fn flush_assignment_coordination(&self) {
        if let Some(url) = &self.assignment_config.redis_url {
            maitre_kit::testing::clear_redis_prefix(url, &self.assignment_config.redis_prefix)
                .await;
        }
    }
}

/// One more replica of a service (same database, coordination, upstreams and settings as the
/// system's own), in a runtime of its own so [`Replica::kill`] can stop it as a kill does.
pub struct Replica {
    /// The replica's own address (the gateway keeps calling the system's first replica).
    pub service: RunningService,
    runtime: Option<OwnRuntime>,
}

impl Replica {
    /// Kills the replica: its runtime is shut down without waiting (runs in flight dropped at
    /// their current await, leases left to expire); returns once its port is free.
    pub async fn kill(mut self) {
        self.runtime.take();
        wait_until_free(&address_of(&self.service.url), "the replica").await;
    }
}

impl System {
    /// Starts another replica of tagging or notification (named `name`: notification's
    /// dispatcher claims by replica name, so two live replicas must not share one).
    pub async fn start_replica(&self, service: ServiceName, name: &str) -> Replica {
        let mut config = self.config_of(service).clone();
        config.listen = "127.0.0.1:0".parse().expect("loopback");
        config.replica_id = name.to_owned();
        let runtime = OwnRuntime::new();
        let started = match service {
            ServiceName::Tagging => {
                runtime
                    .runtime()
                    .spawn(spawn(config, maitre_tagging::serve))
                    .await
            }
            ServiceName::Notification => {
                let mut settings = self.notification_settings.clone();
                settings.replica_id = name.to_owned();
                runtime
                    .runtime()
                    .spawn(spawn(config, |c, l, s| {
                        maitre_notification::serve_with_settings(c, l, s, settings)
                    }))
                    .await
            }
            other => panic!("no replicas of {} in the harness", other.as_str()),
        };
        Replica {
            service: started.expect("the replica starts"),
            runtime: Some(runtime),
        }
    }
}

/// A service's own runtime, shut down without blocking when dropped (a runtime may not be
/// dropped, which blocks, inside the test's runtime).
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl OwnRuntime {
    fn new() -> Self {
        Self(Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("notification runtime"),
        ))
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.0.as_ref().expect("a running runtime")
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Returns once `address` can be bound again (its service stopped).
async fn wait_until_free(address: &str, service: &str) {
    for _ in 0..400 {
        if std::net::TcpListener::bind(address).is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{service} did not stop");
}

/// Starts notification, in `runtime` when given (else in the test's runtime).
async fn spawn_notification(
    runtime: Option<&tokio::runtime::Runtime>,
    config: maitre_kit::config::Config,
    settings: maitre_notification::Settings,
) -> RunningService {
    let start = spawn(config, |c, l, s| {
        maitre_notification::serve_with_settings(c, l, s, settings)
    });
    match runtime {
        Some(runtime) => runtime.spawn(start).await.expect("notification starts"),
        None => start.await,
    }
}

/// `127.0.0.1:port` of `http://127.0.0.1:port`.
fn address_of(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

/// Polls `check` until it returns Some, for at most `seconds`: how a journey waits for the
/// proof of an effect in another service (never a sleep followed by an assertion).
pub async fn eventually<T, F, Fut>(seconds: u64, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The gateway speaks HTTP first, so readiness is its `/healthz`, not gRPC health.
/// A loopback address with a port free right now (the OS's pick, released at once).
fn free_loopback_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").to_string()
}

async fn spawn_gateway(config: maitre_kit::config::Config) -> RunningService {
    maitre_kit::testing::spawn_http(config, "/healthz", maitre_gateway::serve).await
}
