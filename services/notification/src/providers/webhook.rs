//! The webhook provider: POSTs the message as JSON with an `X-Maitre-Signature` header
//! (domain::signature: HMAC-SHA256 over `"{t}." + body`). 2xx accepts; 408, 429 and 5xx are transient
//! (honouring `Retry-After` seconds); other statuses are permanent; connection errors are transient.

use std::time::Duration;

use reqwest::StatusCode;

use super::{OutboundMessage, Provider, ProviderError};
use crate::domain::signature::{SIGNATURE_HEADER, sign_webhook};

/// Why a webhook provider could not be built.
#[derive(Debug, thiserror::Error)]
pub enum WebhookConfigError {
    #[error("webhook url: `{0}` is not an http(s) URL")]
    Url(String),
    #[error("webhook secret must not be empty")]
    EmptySecret,
    #[error("webhook client: {0}")]
    Client(String),
}

/// Sends messages to one HTTP endpoint.
#[derive(Clone)]
pub struct WebhookProvider {
    url: String,
    secret: Vec<u8>,
    client: reqwest::Client,
}

impl WebhookProvider {
    /// A provider posting to `url`, signing with `secret`.
    pub fn new(url: &str, secret: &[u8], timeout: Duration) -> Result<Self, WebhookConfigError> {
        let parsed = url::Url::parse(url).map_err(|_| WebhookConfigError::Url(url.into()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(WebhookConfigError::Url(url.into()));
        }
        if secret.is_empty() {
            return Err(WebhookConfigError::EmptySecret);
        }
        let client = maitre_kit::http::client_builder()
            .timeout(timeout)
            .build()
            .map_err(|e| WebhookConfigError::Client(e.to_string()))?;
        Ok(Self {
            url: url.into(),
            secret: secret.to_vec(),
            client,
        })
    }
}

/// Seconds of a `Retry-After` header, as milliseconds.
fn retry_after_ms(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| s.saturating_mul(1000))
}

/// POSTs `body` (JSON) to `url` signed with `secret` (`X-Maitre-Signature`), with `idempotency_key` so
/// a receiver can drop a retried call. `Ok` carries the receiver's `id` when it answers one (else
/// `None`); failures are classified for the retry policy like every provider's.
pub async fn post_signed(
    client: &reqwest::Client,
    url: &str,
    secret: &[u8],
    body: Vec<u8>,
    idempotency_key: &str,
) -> Result<Option<String>, ProviderError> {
    let signature = sign_webhook(secret, chrono::Utc::now().timestamp(), &body).map_err(|e| {
        ProviderError::Permanent {
            error: e.to_string(),
        }
    })?;
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature)
        .header("Idempotency-Key", idempotency_key)
        .body(body)
        .send()
        .await
        .map_err(|e| ProviderError::Transient {
            error: format!("webhook request failed: {e}"),
            retry_after_ms: None,
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_owned)));
    }
    let error = format!("webhook answered {status}");
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        Err(ProviderError::Transient {
            error,
            retry_after_ms: retry_after_ms(&response),
        })
    } else {
        Err(ProviderError::Permanent { error })
    }
}

#[async_trait::async_trait]
impl Provider for WebhookProvider {
    async fn send(&self, message: &OutboundMessage) -> Result<String, ProviderError> {
        let body = serde_json::to_vec(message).map_err(|e| ProviderError::Permanent {
            error: format!("encoding the message: {e}"),
        })?;
        let id = post_signed(
            &self.client,
            &self.url,
            &self.secret,
            body,
            &message.message_id,
        )
        .await?;
        Ok(id.unwrap_or_else(|| format!("webhook:{}", message.message_id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_with_a_secret_are_accepted() {
        let t = Duration::from_secs(1);
        assert!(matches!(
            WebhookProvider::new("ftp://example.com/x", b"s", t),
            Err(WebhookConfigError::Url(_))
        ));
        assert!(matches!(
            WebhookProvider::new("not a url", b"s", t),
            Err(WebhookConfigError::Url(_))
        ));
        assert!(matches!(
            WebhookProvider::new("https://example.com/hook", b"", t),
            Err(WebhookConfigError::EmptySecret)
        ));
        assert!(WebhookProvider::new("https://example.com/hook", b"s", t).is_ok());
    }
}
