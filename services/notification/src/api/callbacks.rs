//! `maitre.notification.v1.ProviderCallbacks`: the providers' delivery reports, inbound SMS and
//! WeChat pushes, as the gateway's public `/v1/callbacks/{provider}/{chain_id}/{event}` received
//! them. Served without the bearer-token interceptor: each callback is verified against the
//! chain's provider account (`domain::provider_callbacks`), then applied by the same code as the
//! staff-facing RPCs — a report by `apply_delivery_report` (`ReportDeliveryStatus`), a reply by
//! `apply_inbound_reply` (`RecordInboundReply`). A bad signature or token is UNAUTHENTICATED and
//! changes nothing; a replay changes nothing more; a report of a message this chain does not know
//! is acknowledged and ignored (the provider would only repeat it).
//!
//! Nothing of a callback's content (phones, texts) is logged: only the chain, provider, event
//! and counts.

use std::collections::HashMap;

use maitre_proto::notification::v1::{
    ReceiveProviderCallbackRequest, ReceiveProviderCallbackResponse,
    provider_callbacks_server::ProviderCallbacks,
};
use tonic::{Request, Response, Status};

use super::NotificationServiceApi;
use crate::domain::channel::Channel;
use crate::domain::provider_account::ProviderKind;
use crate::domain::provider_callbacks::{
    self as callbacks, CALLBACK_TOKEN, CallbackError, CallbackEvent,
};
use crate::domain::status::DeliveryEvent;
use crate::storage::{facts, messages, provider_accounts};

/// The providers whose callbacks are received, by the URL's `{provider}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    TencentSms,
    AliyunSms,
    Wechat,
}

impl Source {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "tencent_sms" => Some(Self::TencentSms),
            "aliyun_sms" => Some(Self::AliyunSms),
            "wechat" => Some(Self::Wechat),
            _ => None,
        }
    }

    fn channel(self) -> Channel {
        match self {
            Self::TencentSms | Self::AliyunSms => Channel::Sms,
            Self::Wechat => Channel::Wechat,
        }
    }

    /// Whether an account of `kind` is this source's (WeChat: whichever kind carries the
    /// chain's WeChat channel).
    fn owns(self, kind: ProviderKind) -> bool {
        match self {
            Self::TencentSms => kind == ProviderKind::TencentSms,
            Self::AliyunSms => kind == ProviderKind::AliyunSms,
            Self::Wechat => kind != ProviderKind::Log && kind != ProviderKind::Webhook,
        }
    }

    /// The documented acknowledgement: `(content type, body)`.
    fn ack(self) -> (&'static str, Vec<u8>) {
        match self {
            Self::TencentSms => (
                "application/json",
                br#"{"result":0,"errmsg":"OK"}"#.to_vec(),
            ),
            Self::AliyunSms => (
                "application/json",
                r#"{"code":0,"msg":"成功"}"#.as_bytes().to_vec(),
            ),
            Self::Wechat => ("text/plain", b"success".to_vec()),
        }
    }

    fn parse_events(
        self,
        event: &str,
        body: &[u8],
    ) -> Option<Result<Vec<CallbackEvent>, CallbackError>> {
        Some(match (self, event) {
            (Self::TencentSms, "status") => callbacks::parse_tencent_status(body),
            (Self::TencentSms, "reply") => callbacks::parse_tencent_reply(body),
            (Self::AliyunSms, "report") => callbacks::parse_aliyun_report(body),
            (Self::AliyunSms, "up") => callbacks::parse_aliyun_up(body),
            (Self::Wechat, "events") => callbacks::parse_wechat_push(body),
            _ => return None,
        })
    }
}

/// The callbacks' handler, over the notification service's handlers.
#[derive(Clone)]
pub struct ProviderCallbacksApi {
    api: NotificationServiceApi,
}

impl ProviderCallbacksApi {
    pub fn new(api: NotificationServiceApi) -> Self {
        Self { api }
    }

    async fn apply(
        &self,
        chain: &str,
        channel: Channel,
        event: CallbackEvent,
    ) -> Result<bool, Status> {
        let db = &self.api.runtime.db;
        match event {
            CallbackEvent::Report {
                provider_message_id,
                message_id,
                delivered,
                reason,
            } => {
                let row = match message_id.is_empty() {
                    false => messages::get(db, chain, &message_id).await?,
                    true => None,
                };
                let row = match row {
                    Some(row) => Some(row),
                    None => messages::get_by_provider_id(db, chain, &provider_message_id).await?,
                };
                let Some(row) = row.filter(|row| row.channel == channel) else {
                    return Ok(false);
                };
                let event = if delivered {
                    DeliveryEvent::CallbackDelivered
                } else {
                    DeliveryEvent::CallbackFailed
                };
                match self
                    .api
                    .apply_delivery_report(&row, event, &reason, &provider_message_id)
                    .await
                {
                    Ok(moved) => Ok(moved),
                    // A report the message's status cannot take (it was suppressed, say): the
                    // provider would only repeat it.
                    Err(crate::error::Error::Precondition { .. }) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }
            CallbackEvent::Reply { phone_e164, text } => {
                let Some(customer) = facts::customer_by_phone(db, chain, &phone_e164).await? else {
                    return Ok(false);
                };
                self.api
                    .apply_inbound_reply(chain, &customer, channel, &text)
                    .await?;
                Ok(true)
            }
        }
    }

    async fn receive(
        &self,
        request: ReceiveProviderCallbackRequest,
    ) -> Result<ReceiveProviderCallbackResponse, Status> {
        let source = Source::parse(&request.provider).ok_or_else(|| {
            Status::invalid_argument("provider: one of tencent_sms, aliyun_sms, wechat")
        })?;
        let chain = request.chain_id.trim();
        let refused = || Status::unauthenticated(CallbackError::BadSignature.to_string());
        if chain.is_empty() {
            return Err(refused());
        }
        let db = &self.api.runtime.db;
        let account = provider_accounts::get(db, chain, source.channel())
            .await?
            .filter(|account| source.owns(account.kind))
            .ok_or_else(refused)?;
        let secrets = account
            .open(&self.api.provider_secrets)
            .map_err(|e| Status::internal(format!("the provider account cannot be opened: {e}")))?;
        let token = secrets
            .get(CALLBACK_TOKEN)
            .map(String::as_str)
            .unwrap_or_default();
        let query: HashMap<String, String> = url::form_urlencoded::parse(request.query.as_bytes())
            .into_owned()
            .collect();
        let param = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
        match source {
            Source::Wechat => callbacks::verify_wechat(
                token,
                param("signature"),
                param("timestamp"),
                param("nonce"),
            )
            .map_err(|_| refused())?,
            Source::TencentSms | Source::AliyunSms => {
                if !callbacks::token_matches(token, param("token")) {
                    return Err(refused());
                }
            }
        }
        // WeChat's URL check (a GET when the server address is saved): echo `echostr`.
        if source == Source::Wechat && request.method.eq_ignore_ascii_case("GET") {
            return Ok(ReceiveProviderCallbackResponse {
                body: param("echostr").as_bytes().to_vec(),
                content_type: "text/plain".into(),
                applied: 0,
            });
        }
        let events = source
            .parse_events(&request.event, &request.body)
            .ok_or_else(|| Status::invalid_argument("event: not an event of this provider"))?
            .map_err(|e| Status::invalid_argument(format!("body: {e}")))?;
        let mut applied = 0u32;
        for event in events {
            if self.apply(chain, source.channel(), event).await? {
                applied += 1;
            }
        }
        tracing::info!(
            chain_id = %chain,
            provider = %request.provider,
            event = %request.event,
            applied,
            "provider callback applied"
        );
        let (content_type, body) = source.ack();
        Ok(ReceiveProviderCallbackResponse {
            body,
            content_type: content_type.into(),
            applied,
        })
    }
}

#[tonic::async_trait]
impl ProviderCallbacks for ProviderCallbacksApi {
    async fn receive_provider_callback(
        &self,
        request: Request<ReceiveProviderCallbackRequest>,
    ) -> Result<Response<ReceiveProviderCallbackResponse>, Status> {
        self.receive(request.into_inner()).await.map(Response::new)
    }
}
