//! Maitre notification service: a library (`serve`, api, domain, storage, delivery pipeline,
//! automations, campaigns) under the thin `maitre serve notification`.
//!
//! Layout (the skeleton every service shares, docs/ARCHITECTURE.md "Where things live"):
//! `state.rs` holds the dependencies built once (database, coordination, event log, wake-ups);
//! `api/` decodes, authorises, calls and encodes; `app/` runs the use cases (delivery,
//! automations, actions, campaigns, the daily scan's round) over `storage/` (SQL) and the pure
//! `domain/`; `providers/` are where messages leave (one adapter per provider API);
//! `events.rs` consumes tagging's, assignment's and profile's streams; `jobs.rs` is the
//! scheduled work.

pub mod api;
pub mod app;
pub mod convert;
pub mod domain;
pub mod error;
pub mod events;
pub mod jobs;
pub mod providers;
pub mod state;
pub mod storage;

use std::{future::Future, sync::Arc, time::Duration};

use futures::FutureExt;
use maitre_kit::{
    config::{Config, ServiceName},
    runtime::{Runtime, RuntimeError},
};
use maitre_proto::notification::v1::{
    notification_service_server::NotificationServiceServer,
    provider_callbacks_server::ProviderCallbacksServer,
};
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::app::{
    actions, campaign,
    delivery::dispatcher::{Dispatcher, DispatcherConfig},
};
use crate::providers::{self as provider, Provider, Providers, webhook::WebhookProvider};
use crate::state::State;

/// The fully qualified gRPC service name.
pub const SERVICE_NAME: &str = "maitre.notification.v1.NotificationService";
/// The providers' callbacks (`api::callbacks`), served beside the service without its interceptor.
pub const CALLBACKS_NAME: &str = "maitre.notification.v1.ProviderCallbacks";

/// Guest messages go to this webhook when set (with `MAITRE_NOTIFICATION_WEBHOOK_SECRET`); otherwise to
/// the log provider (embedded default).
pub const WEBHOOK_URL_VARIABLE: &str = "MAITRE_NOTIFICATION_WEBHOOK_URL";
/// The webhook's signing secret.
pub const WEBHOOK_SECRET_VARIABLE: &str = "MAITRE_NOTIFICATION_WEBHOOK_SECRET";

/// This replica's stable name (falls back to `HOSTNAME`, the pod name in Kubernetes): a replica
/// restarted under the same name recovers its dead predecessor's send claims at once instead of
/// after their lease.
pub const REPLICA_ID_VARIABLE: &str = "MAITRE_REPLICA_ID";

/// The notification service's own settings (beyond the kit's `Config`): where guest messages go.
#[derive(Clone, Default)]
pub struct Settings {
    /// `MAITRE_NOTIFICATION_WEBHOOK_URL`: the webhook provider's endpoint; empty = log provider.
    pub webhook_url: String,
    /// `MAITRE_NOTIFICATION_WEBHOOK_SECRET`: the HMAC secret signing provider posts and webhook calls.
    pub webhook_secret: String,
    /// `MAITRE_REPLICA_ID` (else `HOSTNAME`): this replica's stable name, or empty.
    pub replica_id: String,
    /// `MAITRE_SECRET_KEY`: the key provider secrets are sealed with (base64 of 32 bytes);
    /// empty = chains cannot store provider accounts with secrets.
    pub secret_key: String,
    /// `MAITRE_SECRET_KEYS_OLD`: earlier keys (comma-separated) still opening what they sealed.
    pub old_secret_keys: String,
    /// The providers' API endpoints (production ones by default; tests point them at fakes).
    pub endpoints: providers::accounts::Endpoints,
}

impl std::fmt::Debug for Settings {
    // Never the secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("webhook_url", &self.webhook_url)
            .field("replica_id", &self.replica_id)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// The settings from the process environment.
    pub fn from_env() -> Self {
        let mut settings = Self::from_lookup(|key| std::env::var(key).ok());
        if settings.replica_id.is_empty() {
            settings.replica_id = std::env::var("HOSTNAME").unwrap_or_default();
        }
        settings
    }

    /// The settings through `lookup` (tests pass a map, as an operator sets the environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            webhook_url: lookup(WEBHOOK_URL_VARIABLE).unwrap_or_default(),
            webhook_secret: lookup(WEBHOOK_SECRET_VARIABLE).unwrap_or_default(),
            replica_id: lookup(REPLICA_ID_VARIABLE).unwrap_or_default(),
            secret_key: lookup(storage::secrets::SECRET_KEY_VARIABLE).unwrap_or_default(),
            old_secret_keys: lookup(storage::secrets::OLD_SECRET_KEYS_VARIABLE).unwrap_or_default(),
            endpoints: endpoints(&lookup),
        }
    }

    /// The process-wide providers: the webhook when configured, else the log provider — which
    /// production (`MAITRE_ENV=production`) never uses for guests' channels: their messages wait
    /// for the chain's own account instead ([`provider::Unconfigured`]).
    fn providers(&self, production: bool) -> Providers {
        if self.webhook_url.is_empty() {
            if production {
                let unconfigured: Arc<dyn Provider> = Arc::new(provider::Unconfigured);
                let log: Arc<dyn Provider> = Arc::new(provider::LogProvider);
                return Providers::new(unconfigured)
                    .with(domain::channel::Channel::StaffInbox, log);
            }
            return Providers::default();
        }
        match WebhookProvider::new(
            &self.webhook_url,
            self.webhook_secret.as_bytes(),
            Duration::from_secs(10),
        ) {
            Ok(webhook) => {
                let webhook: Arc<dyn Provider> = Arc::new(webhook);
                Providers::new(webhook)
            }
            Err(e) => {
                tracing::error!(error = %e, "webhook provider misconfigured; using the log provider");
                Self::default().providers(production)
            }
        }
    }
}

/// The providers' API endpoints: the published ones unless the operator routes them elsewhere
/// (an egress proxy; a local fake in tests).
fn endpoints(lookup: &impl Fn(&str) -> Option<String>) -> providers::accounts::Endpoints {
    let defaults = providers::accounts::Endpoints::default();
    let or =
        |name: &str, default: String| lookup(name).filter(|v| !v.is_empty()).unwrap_or(default);
    providers::accounts::Endpoints {
        tencent_sms: or("MAITRE_TENCENT_SMS_ENDPOINT", defaults.tencent_sms),
        aliyun_sms: or("MAITRE_ALIYUN_SMS_ENDPOINT", defaults.aliyun_sms),
        wecom: or("MAITRE_WECOM_API", defaults.wecom),
        wechat: or("MAITRE_WECHAT_API", defaults.wechat),
    }
}

/// The internal hosts the operator lets webhook actions reach (`MAITRE_WEBHOOK_ALLOWED_HOSTS`).
fn webhook_allowed_hosts() -> domain::webhook_target::AllowedHosts {
    let list = std::env::var(domain::webhook_target::ALLOWED_HOSTS_VARIABLE).unwrap_or_default();
    domain::webhook_target::AllowedHosts::parse(&list)
}

/// A lazily connected channel to the profile service (an unusable URL gives a channel that
/// fails every call, which callers report as profile being unavailable).
fn profile_channel(
    runtime: &Runtime,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    let profile_url = runtime.config.upstream(ServiceName::Profile);
    maitre_kit::client::lazy_channel(profile_url)
        .or_else(|_| maitre_kit::client::lazy_channel("http://127.0.0.1:1"))
}

/// The worker performing queued automation actions: follow-up plans in profile (a channel to the
/// configured upstream; unreachable ones are retried and dead-lettered like any failure) and webhook
/// calls signed with `MAITRE_NOTIFICATION_WEBHOOK_SECRET`.
fn action_worker(runtime: &Runtime, state: &State, settings: &Settings) -> actions::ActionWorker {
    let follow_ups: Arc<dyn actions::FollowUpPlans> = match profile_channel(runtime) {
        Ok(channel) => Arc::new(actions::ProfileFollowUpPlans::new(
            channel,
            runtime.minter.clone(),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "no profile channel; follow-up plans will dead-letter");
            Arc::new(actions::targets::Unreachable)
        }
    };
    let secret = settings.webhook_secret.as_bytes();
    let webhooks: Arc<dyn actions::WebhookCalls> =
        match actions::SignedWebhooks::new(secret, Duration::from_secs(10)) {
            Ok(webhooks) => Arc::new(webhooks.allowing(webhook_allowed_hosts())),
            Err(e) => {
                tracing::warn!(error = %e, "no webhook client; webhook calls will dead-letter");
                Arc::new(actions::targets::Unreachable)
            }
        };
    actions::ActionWorker::new(
        state.clone(),
        follow_ups,
        webhooks,
        actions::ActionWorkerConfig::default(),
    )
}

/// Runs the service on `listener` until `shutdown` resolves: the API, the dispatcher, the campaign
/// runner, the action worker and the consumers of the tagging, assignment and profile streams.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RuntimeError> {
    serve_with_settings(config, listener, shutdown, Settings::from_env()).await
}

/// [`serve`] with the service's own settings given (tests configure the webhook provider as an
/// operator would, without touching the process environment).
pub async fn serve_with_settings(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    settings: Settings,
) -> Result<(), RuntimeError> {
    // A key that cannot be used is a start error: secrets sealed now could never be opened.
    let keyring = storage::secrets::Keyring::new(&settings.secret_key, &settings.old_secret_keys)
        .map_err(|e| {
        RuntimeError::Db(maitre_kit::db::DbError::Corrupt {
            what: "the provider secrets key".into(),
            reason: e.to_string(),
        })
    })?;
    let keyring = Arc::new(keyring);
    let production = config.environment == maitre_kit::config::Environment::Production;
    let runtime = Runtime::start::<storage::Migrator>(config).await?;
    match storage::provider_accounts::reseal(&runtime.db, &keyring).await {
        Ok(0) => {}
        Ok(resealed) => {
            tracing::info!(resealed, "provider secrets re-sealed under the current key")
        }
        Err(e) => {
            tracing::warn!(error = %e, "provider secrets not re-sealed; retried at the next start")
        }
    }
    let state = State::new(
        runtime.db.clone(),
        runtime.coord.clone(),
        runtime.events.clone(),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let background = {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
        .shared()
    };
    let accounts = Arc::new(providers::accounts::AccountProviders::new(
        runtime.db.clone(),
        keyring.clone(),
        runtime.coord.clone(),
        settings.endpoints.clone(),
    ));
    let dispatcher = Dispatcher::new(
        state.clone(),
        settings.providers(production).with_accounts(accounts),
        DispatcherConfig {
            replica: settings.replica_id.clone(),
            ..DispatcherConfig::default()
        },
    );
    let dispatcher = tokio::spawn(dispatcher.run(background.clone()));
    let tagging_url = runtime.config.upstream(ServiceName::Tagging).to_owned();
    let segments: Option<Arc<dyn campaign::SegmentSource>> =
        match maitre_kit::client::lazy_channel(if tagging_url.is_empty() {
            "http://127.0.0.1:1"
        } else {
            &tagging_url
        }) {
            Ok(channel) => Some(Arc::new(campaign::TaggingSegments::new(
                channel,
                runtime.minter.clone(),
            ))),
            Err(e) => {
                tracing::warn!(error = %e, "bad tagging url; campaigns are not dispatched");
                None
            }
        };
    let campaigns = segments.clone().map(|segments| {
        let runner = campaign::CampaignRunner::new(state.clone(), segments, Duration::from_secs(1));
        tokio::spawn(runner.run(background.clone()))
    });
    let actions = tokio::spawn(action_worker(&runtime, &state, &settings).run(background.clone()));
    events::spawn_consumers(&runtime, &state, background.clone());
    let scan = app::daily_scan::DailyScan::new(
        state.clone(),
        uuid::Uuid::new_v4().to_string(),
        Duration::from_secs(600),
    );
    let scan = tokio::spawn(jobs::daily_scan(scan, background.clone()));
    let gauges = tokio::spawn(jobs::business_gauges(runtime.db.clone()));
    let mut api =
        api::NotificationServiceApi::new(runtime.clone(), state, profile_channel(&runtime).ok());
    if let Some(segments) = segments {
        api = api.with_segments(segments);
    }
    let api = api
        .with_webhook_allowed_hosts(webhook_allowed_hosts())
        .with_provider_accounts(keyring, production);
    let closer = api.clone();
    // The providers' callbacks have no interceptor: each is verified by its provider's
    // signature or the account's callback token (`api::callbacks`).
    let callbacks = ProviderCallbacksServer::new(api::ProviderCallbacksApi::new(api.clone()));
    let routes = Routes::new(NotificationServiceServer::with_interceptor(
        api,
        runtime.auth(),
    ))
    .add_service(callbacks);
    let shutdown = async move {
        shutdown.await;
        closer.close_streams();
        stop.send_replace(true);
    };
    let result = runtime
        .serve(&[SERVICE_NAME, CALLBACKS_NAME], routes, listener, shutdown)
        .await;
    gauges.abort();
    let _ = dispatcher.await;
    let _ = scan.await;
    let _ = actions.await;
    if let Some(campaigns) = campaigns {
        let _ = campaigns.await;
    }
    result
}

/// Brings the service's database schema up to date and returns (`maitre migrate`).
pub async fn migrate(config: &Config) -> Result<(), RuntimeError> {
    maitre_kit::db::connect_and_migrate::<storage::Migrator>(
        &config.database_url,
        &config.database_schema,
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod production_safety_tests {
    //! Issue 24, "Production safety": production never hands a guest's message to the log
    //! provider, and no log line — at any level — carries a message body or a phone number.

    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::Settings;
    use crate::domain::channel::Channel;
    use crate::providers::{LogProvider, OutboundMessage, Provider};

    const BODY: &str = "李女士，生日快乐！您的甜品券码DESSERT-2026";
    const PHONE: &str = "+8613800138001";

    fn message(channel: Channel) -> OutboundMessage {
        OutboundMessage {
            chain_id: "c".into(),
            message_id: "m1".into(),
            customer_id: "g1".into(),
            staff_id: String::new(),
            channel,
            subject: None,
            body: BODY.into(),
            campaign_id: String::new(),
            automation_id: String::new(),
            recipient: PHONE.into(),
            parameters: vec![("1".into(), "李女士".into())],
            provider_template_id: "1110".into(),
            sign_name: "海港酒家".into(),
        }
    }

    #[tokio::test]
    async fn production_sends_no_guest_message_to_the_log() {
        let providers = Settings::default().providers(true);
        for channel in Channel::ALL {
            let sent = providers.for_channel(channel).send(&message(channel)).await;
            assert_eq!(
                sent.is_ok(),
                !channel.reaches_customer(),
                "{channel}: {sent:?}"
            );
        }
        // Outside production the log provider serves every channel (development).
        let development = Settings::default().providers(false);
        assert!(
            development
                .for_channel(Channel::Sms)
                .send(&message(Channel::Sms))
                .await
                .is_ok()
        );
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn no_log_line_carries_a_body_or_a_phone() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        LogProvider.send(&message(Channel::Sms)).await.expect("log");
        let _ = crate::providers::Unconfigured
            .send(&message(Channel::Sms))
            .await;
        let logged = String::from_utf8_lossy(&captured.0.lock().expect("lock")).into_owned();
        assert!(
            logged.contains("m1"),
            "the line names the message: {logged}"
        );
        assert!(
            !logged.contains(BODY) && !logged.contains("生日快乐"),
            "{logged}"
        );
        assert!(!logged.contains("13800138001"), "{logged}");
    }
}
