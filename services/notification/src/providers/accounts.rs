//! Each chain's providers, built from its provider accounts (`PUT /v1/providers/{channel}`):
//! the dispatcher asks [`AccountProviders::for_chain`] for the provider of a message's chain and
//! channel. A built provider is kept a few seconds and rebuilt when the account changed (read
//! again after [`REREAD_AFTER`]), so an admin's change reaches every replica within seconds and
//! the provider's own state (HTTP connections, WeCom's shared token) survives between rounds.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use maitre_kit::coord::Coordination;
use sea_orm::DatabaseConnection;

use super::aliyun_sms::{self, AliyunSms, AliyunSmsAccount};
use super::smtp_email::{SmtpAccount, SmtpEmail};
use super::tencent_sms::{self, TencentSms, TencentSmsAccount};
use super::webhook::WebhookProvider;
use super::wechat::{self, Wechat, WechatApp, WechatProduct};
use super::wecom::{self, Wecom, WecomApp};
use super::wecom_external::{WecomContactApp, WecomExternal};
use super::{LogProvider, Provider, ProviderError};
use crate::domain::channel::Channel;
use crate::domain::provider_account::ProviderKind;
use crate::domain::provider_limits::ProviderLimits;
use crate::domain::smtp_settings::SmtpTls;
use crate::storage::provider_accounts::{self, AccountRow};
use crate::storage::secrets::Keyring;

/// How long a built provider is used before its account is read again.
pub const REREAD_AFTER: Duration = Duration::from_secs(5);
/// A provider call's timeout.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The providers' API endpoints: the production ones, or local fakes in tests.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub tencent_sms: String,
    pub aliyun_sms: String,
    pub wecom: String,
    /// WeChat's API (`api.weixin.qq.com`): Official Account and Mini Program alike.
    pub wechat: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            tencent_sms: tencent_sms::ENDPOINT.to_owned(),
            aliyun_sms: aliyun_sms::ENDPOINT.to_owned(),
            wecom: wecom::API.to_owned(),
            wechat: wechat::API.to_owned(),
        }
    }
}

struct Cached {
    read_at: Instant,
    update_time_us: i64,
    provider: Option<Limited>,
}

/// A chain's provider with its account's limits.
pub type Limited = (Arc<dyn Provider>, ProviderLimits);

/// Builds and keeps each chain's providers.
pub struct AccountProviders {
    db: DatabaseConnection,
    keyring: Arc<Keyring>,
    coord: Arc<dyn Coordination>,
    endpoints: Endpoints,
    cache: Mutex<HashMap<(String, Channel), Cached>>,
}

fn unusable(error: String) -> ProviderError {
    // The account can be fixed by the chain's admin: retried with backoff, dead-lettered after.
    ProviderError::Transient {
        error: format!("provider account unusable: {error}"),
        retry_after_ms: Some(60_000),
    }
}

fn setting<'a>(settings: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    settings.get(name).map(String::as_str).unwrap_or_default()
}

impl AccountProviders {
    pub fn new(
        db: DatabaseConnection,
        keyring: Arc<Keyring>,
        coord: Arc<dyn Coordination>,
        endpoints: Endpoints,
    ) -> Self {
        Self {
            db,
            keyring,
            coord,
            endpoints,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The provider of `chain`'s account for `channel`; `Ok(None)` when the chain has none.
    pub async fn for_chain(
        &self,
        chain: &str,
        channel: Channel,
    ) -> Result<Option<Arc<dyn Provider>>, ProviderError> {
        Ok(self
            .for_chain_limited(chain, channel)
            .await?
            .map(|(provider, _)| provider))
    }

    /// The coordination the accounts' limits are counted in.
    pub fn coord(&self) -> &Arc<dyn Coordination> {
        &self.coord
    }

    /// [`AccountProviders::for_chain`] with the account's limits.
    pub async fn for_chain_limited(
        &self,
        chain: &str,
        channel: Channel,
    ) -> Result<Option<Limited>, ProviderError> {
        let key = (chain.to_owned(), channel);
        let previous = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            match cache.get(&key) {
                Some(cached) if cached.read_at.elapsed() < REREAD_AFTER => {
                    return Ok(cached.provider.clone());
                }
                Some(cached) => Some((cached.update_time_us, cached.provider.clone())),
                None => None,
            }
        };
        let row = provider_accounts::get(&self.db, chain, channel)
            .await
            .map_err(|e| ProviderError::Transient {
                error: format!("reading the provider account: {e}"),
                retry_after_ms: None,
            })?;
        let update_time_us = row.as_ref().map_or(0, |r| r.update_time_us);
        let provider = match (previous, &row) {
            (Some((seen, provider)), _) if seen == update_time_us => provider,
            (_, None) => None,
            (_, Some(row)) => Some((
                self.build(row)?,
                ProviderLimits::of_account(row.kind, &row.settings),
            )),
        };
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(
            key,
            Cached {
                read_at: Instant::now(),
                update_time_us,
                provider: provider.clone(),
            },
        );
        Ok(provider)
    }

    /// The provider of a stored account.
    fn build(&self, row: &AccountRow) -> Result<Arc<dyn Provider>, ProviderError> {
        let secrets = row
            .open(&self.keyring)
            .map_err(|e| unusable(e.to_string()))?;
        let settings = &row.settings;
        let secret = |name: &str| secrets.get(name).cloned().unwrap_or_default();
        Ok(match row.kind {
            ProviderKind::TencentSms => Arc::new(
                TencentSms::new(
                    &self.endpoints.tencent_sms,
                    TencentSmsAccount {
                        secret_id: setting(settings, "secret_id").to_owned(),
                        secret_key: secret("secret_key"),
                        region: setting(settings, "region").to_owned(),
                        sdk_app_id: setting(settings, "sdk_app_id").to_owned(),
                        sign_name: setting(settings, "sign_name").to_owned(),
                        template_id: String::new(),
                    },
                    TIMEOUT,
                )
                .map_err(|e| unusable(e.to_string()))?,
            ),
            ProviderKind::AliyunSms => Arc::new(
                AliyunSms::new(
                    &self.endpoints.aliyun_sms,
                    AliyunSmsAccount {
                        access_key_id: setting(settings, "access_key_id").to_owned(),
                        access_key_secret: secret("access_key_secret"),
                        sign_name: setting(settings, "sign_name").to_owned(),
                        template_code: String::new(),
                    },
                    TIMEOUT,
                )
                .map_err(|e| unusable(e.to_string()))?,
            ),
            ProviderKind::Wecom => Arc::new(
                Wecom::new(
                    &self.endpoints.wecom,
                    WecomApp {
                        corp_id: setting(settings, "corp_id").to_owned(),
                        corp_secret: secret("corp_secret"),
                        agent_id: setting(settings, "agent_id").parse().unwrap_or_default(),
                    },
                    self.coord.clone(),
                    TIMEOUT,
                )
                .map_err(unusable)?,
            ),
            ProviderKind::Webhook => Arc::new(
                WebhookProvider::new(
                    setting(settings, "url"),
                    secret("signing_secret").as_bytes(),
                    TIMEOUT,
                )
                .map_err(|e| unusable(e.to_string()))?,
            ),
            ProviderKind::WechatOfficialAccount | ProviderKind::WechatMiniProgram => {
                let official = row.kind == ProviderKind::WechatOfficialAccount;
                let link = if official { "url" } else { "page" };
                Arc::new(
                    Wechat::new(
                        &self.endpoints.wechat,
                        if official {
                            WechatProduct::OfficialAccount
                        } else {
                            WechatProduct::MiniProgram
                        },
                        WechatApp {
                            appid: setting(settings, "appid").to_owned(),
                            app_secret: secret("app_secret"),
                            link: setting(settings, link).to_owned(),
                            miniprogram_appid: setting(settings, "miniprogram_appid").to_owned(),
                            miniprogram_pagepath: setting(settings, "miniprogram_pagepath")
                                .to_owned(),
                            miniprogram_state: setting(settings, "miniprogram_state").to_owned(),
                        },
                        self.coord.clone(),
                        TIMEOUT,
                    )
                    .map_err(unusable)?,
                )
            }
            ProviderKind::WecomExternalContact => Arc::new(
                WecomExternal::new(
                    &self.endpoints.wecom,
                    WecomContactApp {
                        corp_id: setting(settings, "corp_id").to_owned(),
                        contact_secret: secret("contact_secret"),
                    },
                    self.coord.clone(),
                    TIMEOUT,
                )
                .map_err(unusable)?,
            ),
            ProviderKind::Smtp => {
                let port: u16 = setting(settings, "port").parse().unwrap_or(587);
                let tls = SmtpTls::of(settings, port).ok_or_else(|| {
                    unusable("settings.tls is not starttls, implicit or none".into())
                })?;
                Arc::new(
                    SmtpEmail::new(
                        SmtpAccount {
                            host: setting(settings, "host").to_owned(),
                            port,
                            tls,
                            username: setting(settings, "username").to_owned(),
                            password: secret("password"),
                            from: setting(settings, "from").to_owned(),
                        },
                        TIMEOUT,
                    )
                    .map_err(|e| unusable(e.to_string()))?,
                )
            }
            ProviderKind::Log => Arc::new(LogProvider),
        })
    }
}
