//! Tencent Cloud SMS: `SendSms`, API version 2021-01-11, signed with TC3-HMAC-SHA256.
//!
//! Follows
//! - SendSms: <https://cloud.tencent.com/document/api/382/55981> (request fields `PhoneNumberSet`,
//!   `SmsSdkAppId`, `SignName`, `TemplateId`, `TemplateParamSet`, `SessionContext`; the answer's
//!   `SendStatusSet[].Code` is `Ok` per number, else the number's error code);
//! - signature v3: <https://cloud.tencent.com/document/api/213/30654> (canonical request over
//!   `content-type;host`, credential scope `date/service/tc3_request`, the derived signing key),
//!   checked in the tests against that page's worked example;
//! - error codes: <https://cloud.tencent.com/document/api/382/55981#6.-.E9.94.99.E8.AF.AF.E7.A0.81>
//!   and the common `RequestLimitExceeded`: throttling answers are transient with the wait the
//!   limit implies (a delay, never a drop); auth, parameter and template errors are permanent.
//!
//! The message id travels as `SessionContext`, which Tencent echoes in its delivery reports. The
//! API has no idempotency key, so a send whose answer was lost is not re-sent (`reconcile` is
//! `Unknown`: the dispatcher holds it for review).

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{OutboundMessage, Provider, ProviderError};

type HmacSha256 = Hmac<Sha256>;

/// The content type the signature covers (the documented one, charset included).
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";
const ALGORITHM: &str = "TC3-HMAC-SHA256";

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    // HMAC accepts keys of any length: this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The `Authorization` header of a POST of `payload` to `host` for `service` at `timestamp`
/// (signature v3, signed headers `content-type;host`).
pub fn tc3_authorization(
    secret_id: &str,
    secret_key: &str,
    service: &str,
    host: &str,
    payload: &[u8],
    timestamp: i64,
) -> String {
    let canonical_request = format!(
        "POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{host}\n\ncontent-type;host\n{}",
        sha256_hex(payload)
    );
    let date = DateTime::<Utc>::from_timestamp(timestamp, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string();
    let scope = format!("{date}/{service}/tc3_request");
    let string_to_sign = format!(
        "{ALGORITHM}\n{timestamp}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let secret_date = hmac(format!("TC3{secret_key}").as_bytes(), &date);
    let secret_service = hmac(&secret_date, service);
    let secret_signing = hmac(&secret_service, "tc3_request");
    let signature = hex::encode(hmac(&secret_signing, &string_to_sign));
    format!(
        "{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={signature}"
    )
}

/// The message's own value (its template's binding), else the account's.
fn or_default<'a>(given: &'a str, default: &'a str) -> &'a str {
    if given.is_empty() { default } else { given }
}

/// One chain's Tencent Cloud SMS account and the template a message is sent with.
#[derive(Clone)]
pub struct TencentSmsAccount {
    pub secret_id: String,
    pub secret_key: String,
    /// `ap-guangzhou`, …
    pub region: String,
    /// The SMS application (`SmsSdkAppId`).
    pub sdk_app_id: String,
    /// The approved sign name (`SignName`).
    pub sign_name: String,
    /// The approved template (`TemplateId`).
    pub template_id: String,
}

/// Sends through Tencent Cloud SMS.
#[derive(Clone)]
pub struct TencentSms {
    /// `https://sms.tencentcloudapi.com/` in production; a fake server's URL in tests.
    endpoint: String,
    host: String,
    account: TencentSmsAccount,
    client: reqwest::Client,
}

/// Why the provider could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TencentConfigError {
    #[error("tencent sms endpoint: `{0}` is not an http(s) URL with a host")]
    Endpoint(String),
    #[error("tencent sms client: {0}")]
    Client(String),
}

/// The production endpoint.
pub const ENDPOINT: &str = "https://sms.tencentcloudapi.com/";

impl TencentSms {
    pub fn new(
        endpoint: &str,
        account: TencentSmsAccount,
        timeout: Duration,
    ) -> Result<Self, TencentConfigError> {
        let url =
            url::Url::parse(endpoint).map_err(|_| TencentConfigError::Endpoint(endpoint.into()))?;
        let host = match (url.scheme(), url.host_str()) {
            ("http" | "https", Some(host)) => match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            },
            _ => return Err(TencentConfigError::Endpoint(endpoint.into())),
        };
        let client = maitre_kit::http::client_builder()
            .timeout(timeout)
            .build()
            .map_err(|e| TencentConfigError::Client(e.to_string()))?;
        Ok(Self {
            endpoint: endpoint.into(),
            host,
            account,
            client,
        })
    }

    /// The `SendSms` body of `message` (the phone in E.164, the template's parameters in order).
    pub fn payload(&self, message: &OutboundMessage) -> serde_json::Value {
        serde_json::json!({
            "PhoneNumberSet": [message.recipient],
            "SmsSdkAppId": self.account.sdk_app_id,
            "SignName": or_default(&message.sign_name, &self.account.sign_name),
            "TemplateId": or_default(&message.provider_template_id, &self.account.template_id),
            "TemplateParamSet": message.parameters.iter().map(|(_, value)| value).collect::<Vec<_>>(),
            "SessionContext": message.message_id,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    response: Answer,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Answer {
    error: Option<ApiError>,
    send_status_set: Vec<SendStatus>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ApiError {
    code: String,
    message: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct SendStatus {
    serial_no: String,
    code: String,
    message: String,
}

/// How long a throttling code asks to wait; `None` for codes that are not throttling.
pub fn throttle_wait(code: &str) -> Option<Duration> {
    Some(match code {
        // The API's request rate (common error): back off briefly.
        "RequestLimitExceeded" | "LimitExceeded.DeliveryFrequencyLimit" => Duration::from_secs(1),
        "LimitExceeded.PhoneNumberThirtySecondLimit" => Duration::from_secs(30),
        "LimitExceeded.PhoneNumberOneHourLimit" => Duration::from_secs(3600),
        "LimitExceeded.PhoneNumberDailyLimit" | "LimitExceeded.DailyLimit" => {
            Duration::from_secs(24 * 3600)
        }
        _ => return None,
    })
}

/// A failure for `code`: throttling and the service's own trouble are transient, the rest
/// (authentication, parameters, templates, the number) permanent.
fn failure(code: &str, message: &str) -> ProviderError {
    let error = format!("tencent sms {code}: {message}");
    if let Some(wait) = throttle_wait(code) {
        return ProviderError::Throttled {
            error,
            retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        };
    }
    if code.starts_with("InternalError") || code == "ResourceUnavailable" {
        return ProviderError::Transient {
            error,
            retry_after_ms: None,
        };
    }
    ProviderError::Permanent { error }
}

#[async_trait::async_trait]
impl Provider for TencentSms {
    async fn send(&self, message: &OutboundMessage) -> Result<String, ProviderError> {
        if message.recipient.is_empty() {
            return Err(ProviderError::Permanent {
                error: "tencent sms: the guest has no phone number".into(),
            });
        }
        let body =
            serde_json::to_vec(&self.payload(message)).map_err(|e| ProviderError::Permanent {
                error: format!("encoding the request: {e}"),
            })?;
        let timestamp = Utc::now().timestamp();
        let authorization = tc3_authorization(
            &self.account.secret_id,
            &self.account.secret_key,
            "sms",
            &self.host,
            &body,
            timestamp,
        );
        let response = self
            .client
            .post(&self.endpoint)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(reqwest::header::HOST, &self.host)
            .header(reqwest::header::AUTHORIZATION, authorization)
            .header("X-TC-Action", "SendSms")
            .header("X-TC-Version", "2021-01-11")
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("X-TC-Region", &self.account.region)
            .body(body)
            .send()
            .await
            .map_err(|e| ProviderError::Transient {
                error: format!("tencent sms request failed: {e}"),
                retry_after_ms: None,
            })?;
        let status = response.status();
        if status.is_server_error() {
            return Err(ProviderError::Transient {
                error: format!("tencent sms answered {status}"),
                retry_after_ms: None,
            });
        }
        let envelope: Envelope = response
            .json()
            .await
            .map_err(|e| ProviderError::Transient {
                error: format!("tencent sms answer unreadable ({status}): {e}"),
                retry_after_ms: None,
            })?;
        let answer = envelope.response;
        if let Some(error) = answer.error {
            return Err(failure(&error.code, &error.message));
        }
        match answer.send_status_set.into_iter().next() {
            Some(sent) if sent.code == "Ok" => Ok(sent.serial_no),
            Some(refused) => Err(failure(&refused.code, &refused.message)),
            None => Err(ProviderError::Transient {
                error: "tencent sms answered no send status".into(),
                retry_after_ms: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of <https://cloud.tencent.com/document/api/213/30654> ("签名方法 v3",
    /// also <https://www.tencentcloud.com/document/api/213/33224>): DescribeInstances on cvm with
    /// the page's example credentials at 1551113065 (2019-02-25).
    #[test]
    fn signature_matches_the_documented_example() {
        let payload = br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        assert_eq!(
            sha256_hex(payload),
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            tc3_authorization(
                "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
                "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
                "cvm",
                "cvm.tencentcloudapi.com",
                payload,
                1551113065,
            ),
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, \
             SignedHeaders=content-type;host, \
             Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn throttling_delays_and_the_rest_is_permanent() {
        assert!(matches!(
            failure("LimitExceeded.PhoneNumberThirtySecondLimit", "m"),
            ProviderError::Throttled {
                retry_after_ms: 30_000,
                ..
            }
        ));
        assert!(matches!(
            failure("RequestLimitExceeded", "m"),
            ProviderError::Throttled { .. }
        ));
        assert!(matches!(
            failure("InternalError.Timeout", "m"),
            ProviderError::Transient {
                retry_after_ms: None,
                ..
            }
        ));
        assert!(matches!(
            failure("FailedOperation.TemplateIncorrectOrUnapproved", "m"),
            ProviderError::Permanent { .. }
        ));
        assert!(matches!(
            failure("AuthFailure.SignatureFailure", "m"),
            ProviderError::Permanent { .. }
        ));
    }
}
