//! WeCom (企业微信) application messages to staff: reminders, follow-up plans, owner changes.
//!
//! Follows
//! - access token <https://developer.work.weixin.qq.com/document/path/91039>
//!   (`GET /cgi-bin/gettoken?corpid=…&corpsecret=…` → `access_token`, `expires_in` seconds): one
//!   token per corp app shared by every replica (`access_token.rs`), refreshed a margin before it
//!   expires and at once when WeCom answers the documented token errors (40014 invalid, 42001 expired,
//!   41001 missing), then the send is tried once more;
//! - sending <https://developer.work.weixin.qq.com/document/path/90236>
//!   (`POST /cgi-bin/message/send?access_token=…`, text message to `touser` from `agentid`),
//!   with `enable_duplicate_check` so WeCom itself drops a repeat of the same message within the
//!   interval — the closest it has to an idempotency key;
//! - global error codes <https://developer.work.weixin.qq.com/document/path/90313>: the
//!   frequency limits (45009, 45033, 45047) are transient with a wait (a delay, never a drop);
//!   -1 (system busy) transient; the rest (bad user, agent, content) permanent.

use std::sync::Arc;
use std::time::Duration;

use maitre_kit::coord::Coordination;
use serde::Deserialize;

use super::access_token::SharedToken;
use super::{OutboundMessage, Provider, ProviderError};

/// The production API.
pub const API: &str = "https://qyapi.weixin.qq.com";

/// WeCom drops a repeat of the same message within this interval (its maximum is 4 hours).
const DUPLICATE_CHECK_SECONDS: u64 = 4 * 3600;

/// One corp application.
#[derive(Clone)]
pub struct WecomApp {
    pub corp_id: String,
    pub corp_secret: String,
    pub agent_id: i64,
}

/// Sends WeCom application messages.
#[derive(Clone)]
pub struct Wecom {
    api: String,
    app: WecomApp,
    coord: Arc<dyn Coordination>,
    client: reqwest::Client,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct Answer {
    errcode: i64,
    errmsg: String,
    access_token: String,
    expires_in: u64,
    msgid: String,
    invaliduser: String,
}

/// Whether `errcode` says the access token is not (or no longer) valid.
pub fn token_error(errcode: i64) -> bool {
    matches!(errcode, 40014 | 42001 | 41001)
}

/// The failure WeCom's `errcode` means.
pub(crate) fn failure(errcode: i64, errmsg: &str) -> ProviderError {
    let error = format!("wecom errcode {errcode}: {errmsg}");
    match errcode {
        // API frequency limits: wait and try again.
        45009 | 45033 | 45047 => ProviderError::Throttled {
            error,
            retry_after_ms: 60_000,
        },
        -1 => ProviderError::Transient {
            error,
            retry_after_ms: None,
        },
        _ => ProviderError::Permanent { error },
    }
}

fn transient(error: String) -> ProviderError {
    ProviderError::Transient {
        error,
        retry_after_ms: None,
    }
}

/// A corp token for `secret` (an app's, or the customer-contact secret): `(token, expires_in)`.
pub(crate) async fn gettoken(
    client: &reqwest::Client,
    api: &str,
    corp_id: &str,
    secret: &str,
) -> Result<(String, u64), ProviderError> {
    let answer: Answer = client
        .get(format!("{api}/cgi-bin/gettoken"))
        .query(&[("corpid", corp_id), ("corpsecret", secret)])
        .send()
        .await
        .map_err(|e| transient(format!("wecom gettoken failed: {e}")))?
        .json()
        .await
        .map_err(|e| transient(format!("wecom gettoken answer unreadable: {e}")))?;
    if answer.errcode != 0 || answer.access_token.is_empty() {
        return Err(failure(answer.errcode, &answer.errmsg));
    }
    Ok((answer.access_token, answer.expires_in))
}

impl Wecom {
    pub fn new(
        api: &str,
        app: WecomApp,
        coord: Arc<dyn Coordination>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let client = maitre_kit::http::client_builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("wecom client: {e}"))?;
        Ok(Self {
            api: api.trim_end_matches('/').to_owned(),
            app,
            coord,
            client,
        })
    }

    fn shared_token(&self) -> SharedToken {
        SharedToken::new(
            self.coord.clone(),
            "wecom",
            format!(
                "notif:wecom:token:{}:{}",
                self.app.corp_id, self.app.agent_id
            ),
        )
    }

    /// The shared token of the app (`access_token.rs`).
    async fn token(&self) -> Result<String, ProviderError> {
        self.shared_token().get(|| self.fetch_token()).await
    }

    async fn fetch_token(&self) -> Result<(String, u64), ProviderError> {
        gettoken(
            &self.client,
            &self.api,
            &self.app.corp_id,
            &self.app.corp_secret,
        )
        .await
    }

    async fn forget(&self, token: &str) {
        self.shared_token().forget(token).await;
    }

    async fn post(&self, token: &str, body: &serde_json::Value) -> Result<Answer, ProviderError> {
        self.client
            .post(format!("{}/cgi-bin/message/send", self.api))
            .query(&[("access_token", token)])
            .json(body)
            .send()
            .await
            .map_err(|e| transient(format!("wecom send failed: {e}")))?
            .json()
            .await
            .map_err(|e| transient(format!("wecom send answer unreadable: {e}")))
    }

    /// The text message to `message`'s staff member (the recipient, else the staff id, as the
    /// WeCom userid).
    pub fn body(&self, message: &OutboundMessage) -> serde_json::Value {
        let to = if message.recipient.is_empty() {
            &message.staff_id
        } else {
            &message.recipient
        };
        let content = match &message.subject {
            Some(subject) if !subject.is_empty() => format!("{subject}\n{}", message.body),
            _ => message.body.clone(),
        };
        serde_json::json!({
            "touser": to,
            "msgtype": "text",
            "agentid": self.app.agent_id,
            "text": {"content": content},
            "safe": 0,
            "enable_duplicate_check": 1,
            "duplicate_check_interval": DUPLICATE_CHECK_SECONDS,
        })
    }
}

#[async_trait::async_trait]
impl Provider for Wecom {
    async fn send(&self, message: &OutboundMessage) -> Result<String, ProviderError> {
        if message.recipient.is_empty() && message.staff_id.is_empty() {
            return Err(ProviderError::Permanent {
                error: "wecom: no staff member to send to".into(),
            });
        }
        let body = self.body(message);
        let mut token = self.token().await?;
        let mut answer = self.post(&token, &body).await?;
        if token_error(answer.errcode) {
            // Expired or revoked: forget it, fetch a new one, try once more.
            self.forget(&token).await;
            token = self.token().await?;
            answer = self.post(&token, &body).await?;
        }
        if answer.errcode != 0 {
            return Err(failure(answer.errcode, &answer.errmsg));
        }
        if !answer.invaliduser.is_empty() {
            return Err(ProviderError::Permanent {
                error: "wecom: the staff member is not a member of the app".into(),
            });
        }
        Ok(answer.msgid)
    }
}
