//! WeChat messages to guests: Official Account template messages and Mini Program subscribe
//! messages, each sent with the template the chain bound (`domain::provider_binding`): the
//! provider's template id and which of our variables fills each data key.
//!
//! Follows
//! - stable access token
//!   <https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-access-token/getStableAccessToken.html>
//!   (`POST /cgi-bin/stable_token` `{grant_type: client_credential, appid, secret, force_refresh}`
//!   → `access_token`, `expires_in`): the stable token does not invalidate the one other callers
//!   hold, and one per app is shared by every replica (`access_token.rs`), dropped a margin
//!   before it expires; on the documented token errors (40001 invalid credential, 40014 invalid
//!   token, 42001 expired) it is forgotten, fetched again with `force_refresh`, and the send
//!   tried once more;
//! - Official Account template message
//!   <https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html>
//!   (`POST /cgi-bin/message/template/send?access_token=…` with `touser`, `template_id`, `url`,
//!   `miniprogram {appid, pagepath}`, `client_msg_id` — WeChat's de-duplication id, our message
//!   id — and `data {key: {value}}`; the answer's `msgid`);
//! - Mini Program subscribe message
//!   <https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html>
//!   (`POST /cgi-bin/message/subscribe/send?access_token=…` with `touser`, `template_id`,
//!   `page`, `miniprogram_state`, `lang`, `data {key: {value}}`);
//! - error codes (global <https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html>
//!   and each page's list): 43004 (the guest does not follow the account) and 43101 (the guest
//!   refused the template or cancelled the subscription) are permanent and say the guest
//!   withdrew ([`GUEST_REFUSED`]); 45009 (the app's daily quota) is a delay of an hour, never a
//!   drop; -1 (system busy) is transient; the rest (40003 bad openid, 40037 bad template id,
//!   47003 bad data, 41030 bad page) are permanent.

use std::sync::Arc;
use std::time::Duration;

use maitre_kit::coord::Coordination;
use serde::Deserialize;

use super::access_token::SharedToken;
use super::{OutboundMessage, Provider, ProviderError};
use crate::domain::contacts::wechat_address;

/// The production API.
pub const API: &str = "https://api.weixin.qq.com";

/// What a permanent failure's error starts with when the guest refused the messages (43004,
/// 43101): the guest's consent on the channel is gone, not the message's content wrong.
pub const GUEST_REFUSED: &str = "wechat: the guest refused";

/// How long a send waits after the app's daily quota ran out (45009).
const QUOTA_RETRY_MS: u64 = 3_600_000;

/// Which WeChat product sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WechatProduct {
    /// Template messages of an Official Account (公众号模板消息).
    OfficialAccount,
    /// Subscribe messages of a Mini Program (小程序订阅消息).
    MiniProgram,
}

/// One chain's WeChat app.
#[derive(Clone, Default)]
pub struct WechatApp {
    pub appid: String,
    pub app_secret: String,
    /// Official Account: the page the message opens (`url`); Mini Program: the page (`page`).
    pub link: String,
    /// Official Account: a Mini Program the message opens instead (`miniprogram.appid`) and its
    /// page (`miniprogram.pagepath`).
    pub miniprogram_appid: String,
    pub miniprogram_pagepath: String,
    /// Mini Program: `formal` (default), `trial` or `developer`.
    pub miniprogram_state: String,
}

/// Sends WeChat template or subscribe messages.
#[derive(Clone)]
pub struct Wechat {
    api: String,
    product: WechatProduct,
    app: WechatApp,
    token: SharedToken,
    client: reqwest::Client,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct Answer {
    errcode: i64,
    errmsg: String,
    access_token: String,
    expires_in: u64,
    /// A number in both APIs' answers.
    msgid: serde_json::Value,
}

/// Whether `errcode` says the access token is not (or no longer) valid.
pub fn token_error(errcode: i64) -> bool {
    matches!(errcode, 40001 | 40014 | 42001)
}

/// The failure WeChat's `errcode` means.
pub fn failure(errcode: i64, errmsg: &str) -> ProviderError {
    match errcode {
        43004 => ProviderError::Permanent {
            error: format!(
                "{GUEST_REFUSED}: does not follow the official account (errcode 43004: {errmsg})"
            ),
        },
        43101 => ProviderError::Permanent {
            error: format!(
                "{GUEST_REFUSED}: refused or unsubscribed from the template (errcode 43101: {errmsg})"
            ),
        },
        45009 => ProviderError::Throttled {
            error: format!("wechat errcode 45009 (daily quota reached): {errmsg}"),
            retry_after_ms: QUOTA_RETRY_MS,
        },
        -1 => ProviderError::Transient {
            error: format!("wechat errcode -1 (system busy): {errmsg}"),
            retry_after_ms: None,
        },
        _ => ProviderError::Permanent {
            error: format!("wechat errcode {errcode}: {errmsg}"),
        },
    }
}

fn transient(error: String) -> ProviderError {
    ProviderError::Transient {
        error,
        retry_after_ms: None,
    }
}

impl Wechat {
    pub fn new(
        api: &str,
        product: WechatProduct,
        app: WechatApp,
        coord: Arc<dyn Coordination>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let client = maitre_kit::http::client_builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("wechat client: {e}"))?;
        let token = SharedToken::new(coord, "wechat", format!("notif:wechat:token:{}", app.appid));
        Ok(Self {
            api: api.trim_end_matches('/').to_owned(),
            product,
            app,
            token,
            client,
        })
    }

    async fn fetch_token(&self, force_refresh: bool) -> Result<(String, u64), ProviderError> {
        let answer: Answer = self
            .client
            .post(format!("{}/cgi-bin/stable_token", self.api))
            .json(&serde_json::json!({
                "grant_type": "client_credential",
                "appid": self.app.appid,
                "secret": self.app.app_secret,
                "force_refresh": force_refresh,
            }))
            .send()
            .await
            .map_err(|e| transient(format!("wechat stable_token failed: {e}")))?
            .json()
            .await
            .map_err(|e| transient(format!("wechat stable_token answer unreadable: {e}")))?;
        if answer.errcode != 0 || answer.access_token.is_empty() {
            return Err(failure(answer.errcode, &answer.errmsg));
        }
        Ok((answer.access_token, answer.expires_in))
    }

    fn path(&self) -> &'static str {
        match self.product {
            WechatProduct::OfficialAccount => "/cgi-bin/message/template/send",
            WechatProduct::MiniProgram => "/cgi-bin/message/subscribe/send",
        }
    }

    /// The documented request body of `message` to the guest's `openid`.
    pub fn body(&self, message: &OutboundMessage, openid: &str) -> serde_json::Value {
        let data: serde_json::Map<String, serde_json::Value> = message
            .parameters
            .iter()
            .map(|(key, value)| (key.clone(), serde_json::json!({ "value": value })))
            .collect();
        let mut body = serde_json::json!({
            "touser": openid,
            "template_id": message.provider_template_id,
            "data": data,
        });
        match self.product {
            WechatProduct::OfficialAccount => {
                body["client_msg_id"] = message.message_id.clone().into();
                if !self.app.link.is_empty() {
                    body["url"] = self.app.link.clone().into();
                }
                if !self.app.miniprogram_appid.is_empty() {
                    body["miniprogram"] = serde_json::json!({
                        "appid": self.app.miniprogram_appid,
                        "pagepath": self.app.miniprogram_pagepath,
                    });
                }
            }
            WechatProduct::MiniProgram => {
                if !self.app.link.is_empty() {
                    body["page"] = self.app.link.clone().into();
                }
                let state = if self.app.miniprogram_state.is_empty() {
                    "formal"
                } else {
                    &self.app.miniprogram_state
                };
                body["miniprogram_state"] = state.into();
                body["lang"] = "zh_CN".into();
            }
        }
        body
    }

    async fn post(&self, token: &str, body: &serde_json::Value) -> Result<Answer, ProviderError> {
        self.client
            .post(format!("{}{}", self.api, self.path()))
            .query(&[("access_token", token)])
            .json(body)
            .send()
            .await
            .map_err(|e| transient(format!("wechat send failed: {e}")))?
            .json()
            .await
            .map_err(|e| transient(format!("wechat send answer unreadable: {e}")))
    }
}

#[async_trait::async_trait]
impl Provider for Wechat {
    async fn send(&self, message: &OutboundMessage) -> Result<String, ProviderError> {
        let Some(openid) = wechat_address(&message.recipient, &self.app.appid) else {
            return Err(ProviderError::Permanent {
                error: "wechat: the guest has no openid with the chain's app".into(),
            });
        };
        if message.provider_template_id.is_empty() {
            return Err(ProviderError::Permanent {
                error: "wechat: the template names no WeChat template id".into(),
            });
        }
        let body = self.body(message, openid);
        let mut token = self.token.get(|| self.fetch_token(false)).await?;
        let mut answer = self.post(&token, &body).await?;
        if token_error(answer.errcode) {
            // Expired or revoked: forget it, fetch a fresh one, try once more.
            self.token.forget(&token).await;
            token = self.token.get(|| self.fetch_token(true)).await?;
            answer = self.post(&token, &body).await?;
        }
        if answer.errcode != 0 {
            return Err(failure(answer.errcode, &answer.errmsg));
        }
        Ok(match answer.msgid {
            serde_json::Value::String(id) => id,
            serde_json::Value::Null => format!("wechat:{}", message.message_id),
            other => other.to_string(),
        })
    }
}
