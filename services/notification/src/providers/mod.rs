//! Providers: where a rendered message leaves Maitre. One trait, [`Provider`]; built in: [`LogProvider`]
//! (the embedded default: logs the message) and `WebhookProvider` (signed HTTP POST, `webhook.rs`).
//! The adapters of the providers' APIs sit beside it, one module each; [`accounts`] builds a
//! chain's own account into its adapter and [`limits`] paces its sends. Below `app` (the
//! dispatcher and the action worker use them): they depend on `domain` and `storage` only.

pub mod access_token;
pub mod accounts;
pub mod aliyun_sms;
pub mod limits;
pub mod smtp_email;
pub mod tencent_sms;
pub mod webhook;
pub mod wechat;
pub mod wecom;
pub mod wecom_external;

use std::{collections::HashMap, sync::Arc};

use serde::Serialize;

use crate::domain::channel::Channel;
use crate::domain::retry::DeliveryFailure;

/// A rendered message handed to a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboundMessage {
    pub chain_id: String,
    /// Also the provider's idempotency key: a retried send carries the same id.
    pub message_id: String,
    pub customer_id: String,
    pub staff_id: String,
    pub channel: Channel,
    pub subject: Option<String>,
    pub body: String,
    pub campaign_id: String,
    pub automation_id: String,
    /// The guest's address on the channel (`domain::contacts::recipient`: an E.164 phone number
    /// for SMS, the guest's WeChat addresses `<appid>:<openid>,…,wecom:<external_userid>`
    /// for WeChat, the address for e-mail), empty when profile has told
    /// none: providers that need it refuse the message. Personal data: never logged.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub recipient: String,
    /// The provider template's parameters `(name, value)`, in the template's order
    /// (template-based providers: Tencent takes the values in order, Alibaba the named map).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<(String, String)>,
    /// The provider's approved template this message is sent with (the template's binding;
    /// empty: the account's default).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub provider_template_id: String,
    /// The approved sign name (the template's binding; empty: the account's default).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sign_name: String,
}

/// Why a provider did not accept a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Worth retrying (timeouts, 5xx, throttling); `retry_after_ms` is the provider's hint.
    #[error("transient provider failure: {error}")]
    Transient {
        error: String,
        retry_after_ms: Option<u64>,
    },
    /// Retrying cannot help (invalid recipient, rejected content).
    #[error("permanent provider failure: {error}")]
    Permanent { error: String },
    /// The provider refused for now because a limit of its own was reached (Tencent
    /// `LimitExceeded.*`, Alibaba `isv.BUSINESS_LIMIT_CONTROL`, WeCom 45009…), or Maitre's count
    /// of the account's limits (`providers::limits`) says it would: the message waits
    /// `retry_after_ms` and is sent then — a delay, never an attempt spent, never a drop.
    #[error("provider throttled: {error}")]
    Throttled { error: String, retry_after_ms: u64 },
}

impl ProviderError {
    /// The domain's view of the failure, for the retry policy.
    pub fn to_failure(&self) -> DeliveryFailure {
        match self {
            ProviderError::Transient {
                error,
                retry_after_ms,
            } => DeliveryFailure::Transient {
                error: error.clone(),
                retry_after_ms: *retry_after_ms,
            },
            ProviderError::Permanent { error } => DeliveryFailure::Permanent {
                error: error.clone(),
            },
            // The dispatcher delays a throttled message without the retry policy
            // (`outcome::throttled`); as a failure it is a transient one with its wait.
            ProviderError::Throttled {
                error,
                retry_after_ms,
            } => DeliveryFailure::Transient {
                error: error.clone(),
                retry_after_ms: Some(*retry_after_ms),
            },
        }
    }
}

/// A message handed to a provider by a worker that stopped before recording the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandedMessage {
    pub chain_id: String,
    /// The idempotency key the send carried.
    pub message_id: String,
    pub customer_id: String,
    pub channel: Channel,
}

/// What a provider knows of a handed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconciliation {
    /// It accepted the message; its id for it.
    Accepted(String),
    /// It never received the message: sending it is safe.
    NotReceived,
    /// It cannot be asked (or could not answer now): the outcome stays unknown.
    Unknown,
}

/// A delivery provider (SMS gateway, WeChat, e-mail, push, a webhook…).
#[async_trait::async_trait]
pub trait Provider: Send + Sync + 'static {
    /// Sends one message; `Ok` carries the provider's id of the message.
    async fn send(&self, message: &OutboundMessage) -> Result<String, ProviderError>;

    /// Whether a message handed earlier (by a worker that stopped before the answer) reached the
    /// provider. Providers with a query API ask it by the message id; the rest cannot tell, and
    /// the message is held for review rather than sent a second time.
    async fn reconcile(&self, _message: &HandedMessage) -> Reconciliation {
        Reconciliation::Unknown
    }
}

/// The embedded default: writes the message to the log and accepts it.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogProvider;

#[async_trait::async_trait]
impl Provider for LogProvider {
    async fn send(&self, message: &OutboundMessage) -> Result<String, ProviderError> {
        tracing::info!(
            chain_id = %message.chain_id,
            message_id = %message.message_id,
            customer_id = %message.customer_id,
            channel = %message.channel,
            // Never the body or the recipient: logs are not a place for guests' personal data.
            body_chars = message.body.chars().count(),
            has_recipient = !message.recipient.is_empty(),
            "message delivered to the log provider"
        );
        Ok(format!("log:{}", message.message_id))
    }
}

/// Where a guest's message goes when its chain configured no account for the channel and the
/// process default is the log provider in production (`MAITRE_ENV=production`): nowhere. The
/// message fails with the reason until the chain's admin configures the channel's provider
/// (`PUT /v1/providers/{channel}`) — guests' messages never end in the logs of a production install.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unconfigured;

#[async_trait::async_trait]
impl Provider for Unconfigured {
    async fn send(&self, message: &OutboundMessage) -> Result<String, ProviderError> {
        Err(ProviderError::Transient {
            error: format!(
                "no provider account for the `{}` channel: an HQ admin sets one with PUT /v1/providers/{}",
                message.channel, message.channel
            ),
            retry_after_ms: Some(300_000),
        })
    }
}

/// Which provider serves which channel: the chain's own account when it configured one
/// (`accounts`), else the process-wide provider of the channel, else the default.
#[derive(Clone)]
pub struct Providers {
    default: Arc<dyn Provider>,
    by_channel: HashMap<Channel, Arc<dyn Provider>>,
    accounts: Option<Arc<self::accounts::AccountProviders>>,
}

impl Providers {
    /// Every channel through `default`.
    pub fn new(default: Arc<dyn Provider>) -> Self {
        Self {
            default,
            by_channel: HashMap::new(),
            accounts: None,
        }
    }

    /// Routes `channel` through `provider`.
    pub fn with(mut self, channel: Channel, provider: Arc<dyn Provider>) -> Self {
        self.by_channel.insert(channel, provider);
        self
    }

    /// Routes each chain's channel through the chain's account where it has one.
    pub fn with_accounts(mut self, accounts: Arc<self::accounts::AccountProviders>) -> Self {
        self.accounts = Some(accounts);
        self
    }

    /// The process-wide provider of `channel`.
    pub fn for_channel(&self, channel: Channel) -> &Arc<dyn Provider> {
        self.by_channel.get(&channel).unwrap_or(&self.default)
    }

    /// The provider of `chain`'s messages on `channel` with its account's limits (`None`: the
    /// process-wide provider, which has none), and the coordination they are counted in.
    pub async fn resolve_limited(
        &self,
        chain: &str,
        channel: Channel,
    ) -> Result<(Arc<dyn Provider>, Option<self::limits::Admission>), ProviderError> {
        if let Some(accounts) = &self.accounts
            && let Some((provider, limits)) = accounts.for_chain_limited(chain, channel).await?
        {
            let admission = self::limits::Admission {
                coord: accounts.coord().clone(),
                limits,
            };
            return Ok((provider, Some(admission)));
        }
        Ok((self.for_channel(channel).clone(), None))
    }

    /// The provider of `chain`'s messages on `channel`.
    pub async fn resolve(
        &self,
        chain: &str,
        channel: Channel,
    ) -> Result<Arc<dyn Provider>, ProviderError> {
        if let Some(accounts) = &self.accounts
            && let Some(provider) = accounts.for_chain(chain, channel).await?
        {
            return Ok(provider);
        }
        Ok(self.for_channel(channel).clone())
    }
}

impl Default for Providers {
    fn default() -> Self {
        Self::new(Arc::new(LogProvider))
    }
}
