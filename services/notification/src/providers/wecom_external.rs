//! Guests who are a customer manager's WeCom external contact (企业微信客户联系), reached
//! through that manager: WeCom does not let an app message an external contact directly; it
//! creates a "group send" task the manager confirms in WeCom, and the message then goes from
//! the manager to the guest.
//!
//! Follows
//! - access token <https://developer.work.weixin.qq.com/document/path/91039> with the
//!   customer-contact secret (客户联系 secret, not an app's), shared by every replica
//!   (`access_token.rs`) and refreshed on the token errors as for application messages;
//! - add_msg_template <https://developer.work.weixin.qq.com/document/path/92135>
//!   (`POST /cgi-bin/externalcontact/add_msg_template?access_token=…` with `chat_type: single`,
//!   `external_userid: [the guest]`, `sender: the manager's userid`, `text.content`; the answer's
//!   `msgid` names the task, `fail_list` the external contacts it could not include);
//! - global error codes <https://developer.work.weixin.qq.com/document/path/90313> mapped as for
//!   application messages (`wecom::failure`).
//!
//! `Ok` means the task exists for the manager to confirm, not that the guest has read it; the
//! task's outcome (`get_groupmsg_send_result`) is left to a later reconciliation.

use std::sync::Arc;
use std::time::Duration;

use maitre_kit::coord::Coordination;
use serde::Deserialize;

use super::access_token::SharedToken;
use super::wecom::{failure, gettoken, token_error};
use super::{OutboundMessage, Provider, ProviderError};
use crate::domain::contacts::{WECOM_PREFIX, wechat_address};

/// One corp's customer-contact access.
#[derive(Clone)]
pub struct WecomContactApp {
    pub corp_id: String,
    /// The customer-contact secret (客户联系 → API → Secret).
    pub contact_secret: String,
}

/// Sends through the guest's manager as a WeCom group-send task.
#[derive(Clone)]
pub struct WecomExternal {
    api: String,
    app: WecomContactApp,
    token: SharedToken,
    client: reqwest::Client,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct Answer {
    errcode: i64,
    errmsg: String,
    msgid: String,
    fail_list: Vec<String>,
}

fn transient(error: String) -> ProviderError {
    ProviderError::Transient {
        error,
        retry_after_ms: None,
    }
}

impl WecomExternal {
    pub fn new(
        api: &str,
        app: WecomContactApp,
        coord: Arc<dyn Coordination>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let client = maitre_kit::http::client_builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("wecom client: {e}"))?;
        let token = SharedToken::new(
            coord,
            "wecom",
            format!("notif:wecom:token:{}:contact", app.corp_id),
        );
        Ok(Self {
            api: api.trim_end_matches('/').to_owned(),
            app,
            token,
            client,
        })
    }

    /// The documented body: one external contact, sent by `manager`.
    pub fn body(message: &OutboundMessage, external_userid: &str) -> serde_json::Value {
        let content = match &message.subject {
            Some(subject) if !subject.is_empty() => format!("{subject}\n{}", message.body),
            _ => message.body.clone(),
        };
        serde_json::json!({
            "chat_type": "single",
            "external_userid": [external_userid],
            "sender": message.staff_id,
            "text": {"content": content},
        })
    }

    async fn fetch_token(&self) -> Result<(String, u64), ProviderError> {
        gettoken(
            &self.client,
            &self.api,
            &self.app.corp_id,
            &self.app.contact_secret,
        )
        .await
    }

    async fn post(&self, token: &str, body: &serde_json::Value) -> Result<Answer, ProviderError> {
        self.client
            .post(format!(
                "{}/cgi-bin/externalcontact/add_msg_template",
                self.api
            ))
            .query(&[("access_token", token)])
            .json(body)
            .send()
            .await
            .map_err(|e| transient(format!("wecom add_msg_template failed: {e}")))?
            .json()
            .await
            .map_err(|e| transient(format!("wecom add_msg_template answer unreadable: {e}")))
    }
}

#[async_trait::async_trait]
impl Provider for WecomExternal {
    async fn send(&self, message: &OutboundMessage) -> Result<String, ProviderError> {
        let Some(external_userid) = wechat_address(&message.recipient, WECOM_PREFIX) else {
            return Err(ProviderError::Permanent {
                error: "wecom: the guest is no manager's WeCom external contact".into(),
            });
        };
        if message.staff_id.is_empty() {
            return Err(ProviderError::Permanent {
                error: "wecom: the guest has no manager to send through".into(),
            });
        }
        let body = Self::body(message, external_userid);
        let mut token = self.token.get(|| self.fetch_token()).await?;
        let mut answer = self.post(&token, &body).await?;
        if token_error(answer.errcode) {
            self.token.forget(&token).await;
            token = self.token.get(|| self.fetch_token()).await?;
            answer = self.post(&token, &body).await?;
        }
        if answer.errcode != 0 {
            return Err(failure(answer.errcode, &answer.errmsg));
        }
        if answer.fail_list.iter().any(|id| id == external_userid) {
            return Err(ProviderError::Permanent {
                error: "wecom: the guest is not the manager's external contact (fail_list)".into(),
            });
        }
        Ok(answer.msgid)
    }
}
