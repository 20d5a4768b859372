//! Alibaba Cloud SMS (Dysmsapi): `SendSms`, API version 2017-05-25, with the RPC (POP) signature.
//!
//! Follows
//! - the SMS HTTP protocol and signature page <https://help.aliyun.com/document_detail/56189.html>
//!   (common parameters, percent-encoding of keys and values, the string to sign
//!   `METHOD&%2F&encode(sorted query)`, HMAC-SHA1 keyed `AccessKeySecret&`, base64), checked in
//!   the tests against that page's worked example;
//! - SendSms <https://help.aliyun.com/document_detail/419273.html> (`PhoneNumbers`, `SignName`,
//!   `TemplateCode`, `TemplateParam` as a JSON object, `OutId`; the answer's `Code` is `OK` on
//!   success, `BizId` the send's id) and the error codes
//!   <https://help.aliyun.com/document_detail/101346.html>: throttling
//!   (`isv.BUSINESS_LIMIT_CONTROL`, `isv.DAY_LIMIT_CONTROL`, `Throttling.User`) is transient with
//!   the limit's wait (a delay, never a drop); signature, template and number errors permanent.
//!
//! The message id travels as `OutId`, echoed in delivery reports. SendSms has no idempotency key,
//! so a send whose answer was lost is held for review (`reconcile` is `Unknown`).

use std::time::Duration;

use base64::Engine;
use hmac13::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha1::Sha1;

use super::{OutboundMessage, Provider, ProviderError};

/// The production endpoint.
pub const ENDPOINT: &str = "https://dysmsapi.aliyuncs.com/";

/// POP percent-encoding: RFC 3986 unreserved characters stay, every other byte is `%XX`
/// (upper case), so a space is `%20`, `*` is `%2A` and `~` stays.
pub fn pop_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The canonicalized query of `params` (every parameter but `Signature`, sorted by name).
pub fn canonical_query(params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> =
        params.iter().filter(|(k, _)| k != "Signature").collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted
        .iter()
        .map(|(k, v)| format!("{}={}", pop_encode(k), pop_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The `Signature` of a `method` request with `params`, under `access_key_secret`.
pub fn rpc_signature(method: &str, params: &[(String, String)], access_key_secret: &str) -> String {
    let string_to_sign = format!(
        "{method}&{}&{}",
        pop_encode("/"),
        pop_encode(&canonical_query(params))
    );
    // HMAC accepts keys of any length: this cannot fail.
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{access_key_secret}&").as_bytes())
        .expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// One chain's Alibaba Cloud SMS account and the template a message is sent with.
#[derive(Clone)]
pub struct AliyunSmsAccount {
    pub access_key_id: String,
    pub access_key_secret: String,
    /// The approved sign name (`SignName`).
    pub sign_name: String,
    /// The approved template (`TemplateCode`, `SMS_…`).
    pub template_code: String,
}

/// Sends through Alibaba Cloud SMS.
#[derive(Clone)]
pub struct AliyunSms {
    endpoint: String,
    account: AliyunSmsAccount,
    client: reqwest::Client,
}

/// Why the provider could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AliyunConfigError {
    #[error("aliyun sms endpoint: `{0}` is not an http(s) URL")]
    Endpoint(String),
    #[error("aliyun sms client: {0}")]
    Client(String),
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Answer {
    code: String,
    message: String,
    biz_id: String,
}

/// How long a throttling answer asks to wait; `None` when `code` is not throttling. The
/// per-number limit says which window it hit in its message (minute by default).
pub fn throttle_wait(code: &str, message: &str) -> Option<Duration> {
    Some(match code {
        "isv.BUSINESS_LIMIT_CONTROL" if message.contains("天") => Duration::from_secs(24 * 3600),
        "isv.BUSINESS_LIMIT_CONTROL" if message.contains("小时") => Duration::from_secs(3600),
        "isv.BUSINESS_LIMIT_CONTROL" => Duration::from_secs(60),
        "isv.DAY_LIMIT_CONTROL" => Duration::from_secs(24 * 3600),
        "Throttling.User" | "Throttling" | "Throttling.Api" => Duration::from_secs(1),
        _ => return None,
    })
}

fn failure(code: &str, message: &str) -> ProviderError {
    let error = format!("aliyun sms {code}: {message}");
    if let Some(wait) = throttle_wait(code, message) {
        return ProviderError::Throttled {
            error,
            retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        };
    }
    if code.starts_with("isp.") || code == "ServiceUnavailable" || code == "InternalError" {
        return ProviderError::Transient {
            error,
            retry_after_ms: None,
        };
    }
    ProviderError::Permanent { error }
}

impl AliyunSms {
    pub fn new(
        endpoint: &str,
        account: AliyunSmsAccount,
        timeout: Duration,
    ) -> Result<Self, AliyunConfigError> {
        let url =
            url::Url::parse(endpoint).map_err(|_| AliyunConfigError::Endpoint(endpoint.into()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(AliyunConfigError::Endpoint(endpoint.into()));
        }
        let client = maitre_kit::http::client_builder()
            .timeout(timeout)
            .build()
            .map_err(|e| AliyunConfigError::Client(e.to_string()))?;
        Ok(Self {
            endpoint: endpoint.into(),
            account,
            client,
        })
    }

    /// The signed form parameters of `message` at `timestamp` (`YYYY-MM-DDThh:mm:ssZ`) with
    /// `nonce`.
    pub fn signed_params(
        &self,
        message: &OutboundMessage,
        timestamp: &str,
        nonce: &str,
    ) -> Vec<(String, String)> {
        let template_param: serde_json::Map<String, serde_json::Value> = message
            .parameters
            .iter()
            .map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone())))
            .collect();
        let mut params: Vec<(String, String)> = [
            ("AccessKeyId", self.account.access_key_id.as_str()),
            ("Action", "SendSms"),
            ("Format", "JSON"),
            ("RegionId", "cn-hangzhou"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", nonce),
            ("SignatureVersion", "1.0"),
            ("Timestamp", timestamp),
            ("Version", "2017-05-25"),
            ("PhoneNumbers", message.recipient.as_str()),
            (
                "SignName",
                if message.sign_name.is_empty() {
                    self.account.sign_name.as_str()
                } else {
                    message.sign_name.as_str()
                },
            ),
            (
                "TemplateCode",
                if message.provider_template_id.is_empty() {
                    self.account.template_code.as_str()
                } else {
                    message.provider_template_id.as_str()
                },
            ),
            ("OutId", message.message_id.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        params.push((
            "TemplateParam".into(),
            serde_json::Value::Object(template_param).to_string(),
        ));
        let signature = rpc_signature("POST", &params, &self.account.access_key_secret);
        params.push(("Signature".into(), signature));
        params
    }
}

#[async_trait::async_trait]
impl Provider for AliyunSms {
    async fn send(&self, message: &OutboundMessage) -> Result<String, ProviderError> {
        if message.recipient.is_empty() {
            return Err(ProviderError::Permanent {
                error: "aliyun sms: the guest has no phone number".into(),
            });
        }
        let timestamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let nonce = uuid::Uuid::new_v4().to_string();
        let params = self.signed_params(message, &timestamp, &nonce);
        let body = params
            .iter()
            .map(|(k, v)| format!("{}={}", pop_encode(k), pop_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let response = self
            .client
            .post(&self.endpoint)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| ProviderError::Transient {
                error: format!("aliyun sms request failed: {e}"),
                retry_after_ms: None,
            })?;
        let status = response.status();
        if status.is_server_error() {
            return Err(ProviderError::Transient {
                error: format!("aliyun sms answered {status}"),
                retry_after_ms: None,
            });
        }
        let answer: Answer = response
            .json()
            .await
            .map_err(|e| ProviderError::Transient {
                error: format!("aliyun sms answer unreadable ({status}): {e}"),
                retry_after_ms: None,
            })?;
        if answer.code == "OK" {
            Ok(answer.biz_id)
        } else {
            Err(failure(&answer.code, &answer.message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(params: &[(&str, &str)]) -> Vec<(String, String)> {
        params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The worked example of <https://help.aliyun.com/document_detail/56189.html> (短信服务
    /// "HTTP 协议及签名"): AccessKeyId `testId`, secret `testSecret`, GET.
    #[test]
    fn signature_matches_the_documented_sms_example() {
        let params = owned(&[
            ("AccessKeyId", "testId"),
            ("Action", "SendSms"),
            ("Format", "XML"),
            ("OutId", "123"),
            ("PhoneNumbers", "15300000001"),
            ("RegionId", "cn-hangzhou"),
            ("SignName", "阿里云短信测试专用"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", "SMS_71390007"),
            ("TemplateParam", r#"{"customer":"test"}"#),
            ("Timestamp", "2017-07-12T02:42:19Z"),
            ("Version", "2017-05-25"),
        ]);
        assert!(canonical_query(&params).starts_with(
            "AccessKeyId=testId&Action=SendSms&Format=XML&OutId=123&PhoneNumbers=15300000001&\
             RegionId=cn-hangzhou&SignName=%E9%98%BF%E9%87%8C%E4%BA%91%E7%9F%AD%E4%BF%A1%E6%B5%8B%E8%AF%95%E4%B8%93%E7%94%A8&"
        ));
        assert_eq!(
            rpc_signature("GET", &params, "testSecret"),
            "zJDF+Lrzhj/ThnlvIToysFRq6t4="
        );
    }

    /// The RPC signature page's example (ECS DescribeRegions, <https://help.aliyun.com/document_detail/25492.html>).
    #[test]
    fn signature_matches_the_documented_rpc_example() {
        let params = owned(&[
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ]);
        assert_eq!(
            rpc_signature("GET", &params, "testsecret"),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }

    #[test]
    fn pop_encoding_follows_rfc_3986() {
        assert_eq!(pop_encode("a b*~/"), "a%20b%2A~%2F");
    }

    #[test]
    fn throttling_delays_and_the_rest_is_permanent() {
        assert!(matches!(
            failure("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1"),
            ProviderError::Throttled {
                retry_after_ms: 60_000,
                ..
            }
        ));
        assert!(matches!(
            failure("isv.BUSINESS_LIMIT_CONTROL", "触发小时级流控Permits:5"),
            ProviderError::Throttled {
                retry_after_ms: 3_600_000,
                ..
            }
        ));
        assert!(matches!(
            failure("isv.SMS_TEMPLATE_ILLEGAL", "模板不合法"),
            ProviderError::Permanent { .. }
        ));
        assert!(matches!(
            failure("SignatureDoesNotMatch", "m"),
            ProviderError::Permanent { .. }
        ));
        assert!(matches!(
            failure("isp.SYSTEM_ERROR", "m"),
            ProviderError::Transient {
                retry_after_ms: None,
                ..
            }
        ));
    }
}
