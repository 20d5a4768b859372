//! Provider callbacks (issue 24, "Receipts and replies"): what a provider's delivery report,
//! inbound SMS or WeChat push says, parsed into [`CallbackEvent`]s, and how each is verified. Pure:
//! the look-ups and writes are `api::callbacks`.
//!
//! Formats followed:
//! - Tencent Cloud SMS status callback ("短信下发状态通知",
//!   <https://www.tencentcloud.com/document/product/382/43547>): a JSON array of
//!   `{user_receive_time, nationcode, mobile, report_status: SUCCESS|FAIL, errmsg, description,
//!   sid}`, `sid` being SendSms's `SerialNo`; answered `{"result":0,"errmsg":"OK"}`;
//! - Tencent Cloud SMS reply callback ("短信回复", <https://www.tencentcloud.com/document/api/382/43548>):
//!   one JSON object `{extend, mobile, nationcode, sign, text, time}`; same answer;
//! - Alibaba Cloud SMS HTTP batch push: SmsReport
//!   (<https://help.aliyun.com/zh/sms/developer-reference/smsreport-2>): a JSON array of
//!   `{phone_number, send_time, report_time, success, err_code, err_msg, sms_size, biz_id, out_id}`
//!   (`biz_id` is SendSms's `BizId`, `out_id` our `OutId`, the message id); SmsUp
//!   (<https://help.aliyun.com/zh/sms/developer-reference/smsup-2>): a JSON array of
//!   `{phone_number, send_time, content, sign_name, dest_code, sequence_id}`; both answered
//!   `{"code":0,"msg":"成功"}`;
//! - WeChat Official Account server push (接入指南 / 消息加解密 "plain text mode",
//!   <https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html>):
//!   the query carries `signature = sha1(sort(token, timestamp, nonce) joined)`; a GET with
//!   `echostr` verifies the URL (answered with `echostr`); the template-send result
//!   (<https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html>,
//!   "事件推送") is an XML event `TEMPLATESENDJOBFINISH` with `MsgID` and `Status` (`success`,
//!   `failed:user block`, `failed: system failed`); answered `success`.
//!
//! Tencent's and Alibaba's SMS callbacks carry no signature of their own (the pages above
//! document none), so their URL carries the account's `callback_token` secret (`?token=`), which
//! only the provider console that was given the URL knows; WeChat's signature is keyed by the
//! same secret (the "Token" of the Official Account's server settings).

use serde::Deserialize;
use sha1::{Digest, Sha1};

/// The account secret that authenticates callbacks (query `token` of SMS callbacks; WeChat's
/// server "Token").
pub const CALLBACK_TOKEN: &str = "callback_token";

/// The shortest accepted callback token: it is the only credential of an SMS callback.
pub const CALLBACK_TOKEN_MIN_CHARS: usize = 16;

/// What a callback says, one item per report or reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackEvent {
    /// The fate of a message the provider accepted.
    Report {
        /// The provider's id of the message (Tencent `sid`, Alibaba `biz_id`, WeChat `MsgID`).
        provider_message_id: String,
        /// Our message id, when the provider echoes it (Alibaba `out_id`).
        message_id: String,
        delivered: bool,
        /// The provider's status code, as the history reason (never a phone or a body).
        reason: String,
    },
    /// A guest's inbound message.
    Reply { phone_e164: String, text: String },
}

/// Why a callback is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("the callback's signature or token does not match the account's")]
    BadSignature,
    #[error("the callback body is not the provider's documented format: {0}")]
    Malformed(String),
}

/// A phone in E.164 from a callback's country code and national number (Tencent), or from a
/// bare number (Alibaba's domestic numbers carry no country code: +86).
pub fn phone_e164(nationcode: &str, mobile: &str) -> String {
    let mobile = mobile.trim();
    if mobile.is_empty() {
        return String::new();
    }
    if let Some(rest) = mobile.strip_prefix('+') {
        return format!("+{rest}");
    }
    let code = nationcode.trim().trim_start_matches('+');
    let code = if code.is_empty() { "86" } else { code };
    let mobile = mobile.strip_prefix("00").unwrap_or(mobile);
    if mobile.len() > 11 && mobile.starts_with(code) {
        return format!("+{mobile}");
    }
    format!("+{code}{mobile}")
}

/// Compares a token in constant time (a callback's only credential).
pub fn token_matches(expected: &str, given: &str) -> bool {
    !expected.is_empty() && subtle_eq::ct_eq(expected.as_bytes(), given.as_bytes())
}

mod subtle_eq {
    /// Equal lengths and bytes, every byte compared whatever the first difference.
    pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// WeChat's server signature: sha1 over the sorted `token`, `timestamp`, `nonce`, joined.
pub fn wechat_signature(token: &str, timestamp: &str, nonce: &str) -> String {
    let mut parts = [token, timestamp, nonce];
    parts.sort_unstable();
    hex::encode(Sha1::digest(parts.concat().as_bytes()))
}

/// Verifies a WeChat push's query signature with the account's token.
pub fn verify_wechat(
    token: &str,
    signature: &str,
    timestamp: &str,
    nonce: &str,
) -> Result<(), CallbackError> {
    if token.is_empty()
        || !subtle_eq::ct_eq(
            wechat_signature(token, timestamp, nonce).as_bytes(),
            signature.to_ascii_lowercase().as_bytes(),
        )
    {
        return Err(CallbackError::BadSignature);
    }
    Ok(())
}

fn malformed(e: impl ToString) -> CallbackError {
    CallbackError::Malformed(e.to_string())
}

#[derive(Deserialize)]
struct TencentStatus {
    #[serde(default)]
    report_status: String,
    #[serde(default)]
    errmsg: String,
    sid: String,
}

/// Tencent's status callback (an array; one object is accepted too).
pub fn parse_tencent_status(body: &[u8]) -> Result<Vec<CallbackEvent>, CallbackError> {
    let items: Vec<TencentStatus> = match serde_json::from_slice(body) {
        Ok(items) => items,
        Err(_) => vec![serde_json::from_slice(body).map_err(malformed)?],
    };
    Ok(items
        .into_iter()
        .map(|s| CallbackEvent::Report {
            provider_message_id: s.sid,
            message_id: String::new(),
            delivered: s.report_status.eq_ignore_ascii_case("SUCCESS"),
            reason: format!("tencent sms {}: {}", s.report_status, s.errmsg),
        })
        .collect())
}

#[derive(Deserialize)]
struct TencentReply {
    #[serde(default)]
    nationcode: String,
    mobile: String,
    text: String,
}

/// Tencent's reply callback (one object; an array is accepted too).
pub fn parse_tencent_reply(body: &[u8]) -> Result<Vec<CallbackEvent>, CallbackError> {
    let items: Vec<TencentReply> = match serde_json::from_slice(body) {
        Ok(items) => items,
        Err(_) => vec![serde_json::from_slice(body).map_err(malformed)?],
    };
    Ok(items
        .into_iter()
        .map(|r| CallbackEvent::Reply {
            phone_e164: phone_e164(&r.nationcode, &r.mobile),
            text: r.text,
        })
        .collect())
}

#[derive(Deserialize)]
struct AliyunReport {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    err_code: String,
    #[serde(default)]
    biz_id: String,
    #[serde(default)]
    out_id: String,
}

/// Alibaba's SmsReport batch.
pub fn parse_aliyun_report(body: &[u8]) -> Result<Vec<CallbackEvent>, CallbackError> {
    let items: Vec<AliyunReport> = serde_json::from_slice(body).map_err(malformed)?;
    Ok(items
        .into_iter()
        .map(|r| CallbackEvent::Report {
            provider_message_id: r.biz_id,
            message_id: r.out_id,
            delivered: r.success,
            reason: format!("aliyun sms {}", r.err_code),
        })
        .collect())
}

#[derive(Deserialize)]
struct AliyunUp {
    phone_number: String,
    content: String,
}

/// Alibaba's SmsUp batch.
pub fn parse_aliyun_up(body: &[u8]) -> Result<Vec<CallbackEvent>, CallbackError> {
    let items: Vec<AliyunUp> = serde_json::from_slice(body).map_err(malformed)?;
    Ok(items
        .into_iter()
        .map(|r| CallbackEvent::Reply {
            phone_e164: phone_e164("86", &r.phone_number),
            text: r.content,
        })
        .collect())
}

/// The text of `<tag>` in WeChat's flat XML (CDATA or plain), if present.
fn xml_field<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    let value = xml[start..end].trim();
    Some(
        value
            .strip_prefix("<![CDATA[")
            .and_then(|v| v.strip_suffix("]]>"))
            .unwrap_or(value),
    )
}

/// A WeChat push: the template-send result as a report; other events and messages are
/// acknowledged and ignored (empty).
pub fn parse_wechat_push(body: &[u8]) -> Result<Vec<CallbackEvent>, CallbackError> {
    let xml = std::str::from_utf8(body).map_err(malformed)?;
    if !xml.trim_start().starts_with("<xml>") {
        return Err(malformed("not a WeChat XML push"));
    }
    if xml_field(xml, "Event") != Some("TEMPLATESENDJOBFINISH") {
        return Ok(Vec::new());
    }
    let id = xml_field(xml, "MsgID")
        .or_else(|| xml_field(xml, "MsgId"))
        .ok_or_else(|| malformed("TEMPLATESENDJOBFINISH without MsgID"))?;
    let status = xml_field(xml, "Status").unwrap_or_default();
    Ok(vec![CallbackEvent::Report {
        provider_message_id: id.to_owned(),
        message_id: String::new(),
        delivered: status == "success",
        reason: format!("wechat {status}"),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tencent_status_sample_is_a_report_by_serial_no() {
        // The sample request of https://www.tencentcloud.com/document/product/382/43547.
        let body = br#"[{"user_receive_time": "2015-10-17 08:03:04", "nationcode": "86",
            "mobile": "13xxxxxxxxx", "report_status": "SUCCESS", "errmsg": "DELIVRD",
            "description": "The SMS message is successfully delivered", "sid": "xxxxxxx"}]"#;
        assert_eq!(
            parse_tencent_status(body).unwrap(),
            vec![CallbackEvent::Report {
                provider_message_id: "xxxxxxx".into(),
                message_id: String::new(),
                delivered: true,
                reason: "tencent sms SUCCESS: DELIVRD".into(),
            }]
        );
    }

    #[test]
    fn tencent_reply_sample_names_the_sender_in_e164() {
        // The sample request of https://www.tencentcloud.com/document/api/382/43548.
        let body = br#"{"extend": "", "mobile": "13800138001", "nationcode": "86",
            "sign": "SMS signature", "text": "TD", "time": 1457336869}"#;
        assert_eq!(
            parse_tencent_reply(body).unwrap(),
            vec![CallbackEvent::Reply {
                phone_e164: "+8613800138001".into(),
                text: "TD".into()
            }]
        );
    }

    #[test]
    fn aliyun_batches_parse() {
        // The samples of SmsReport and SmsUp (help.aliyun.com, "HTTP批量推送").
        let report = r#"[{"phone_number": "1381111****", "send_time": "2017-01-01 00:00:00",
            "report_time": "2017-01-01 00:00:00", "success": true, "err_code": "DELIVERED",
            "err_msg": "用户接收成功", "sms_size": "1", "biz_id": "12345", "out_id": "67890"}]"#;
        assert_eq!(
            parse_aliyun_report(report.as_bytes()).unwrap(),
            vec![CallbackEvent::Report {
                provider_message_id: "12345".into(),
                message_id: "67890".into(),
                delivered: true,
                reason: "aliyun sms DELIVERED".into(),
            }]
        );
        let up = r#"[{"phone_number": "13800138001", "send_time": "2017-02-02 00:00:00",
            "content": "退订", "sign_name": "阿里云", "dest_code": "1234", "sequence_id": 1234567890}]"#;
        assert_eq!(
            parse_aliyun_up(up.as_bytes()).unwrap(),
            vec![CallbackEvent::Reply {
                phone_e164: "+8613800138001".into(),
                text: "退订".into()
            }]
        );
        assert!(parse_aliyun_up(b"{}").is_err());
    }

    #[test]
    fn wechat_template_job_result_is_a_report() {
        // The "事件推送" sample of the template message page.
        let xml = "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>\
            <FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>\
            <CreateTime>1395658920</CreateTime><MsgType><![CDATA[event]]></MsgType>\
            <Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>200163836</MsgID>\
            <Status><![CDATA[failed:user block]]></Status></xml>";
        assert_eq!(
            parse_wechat_push(xml.as_bytes()).unwrap(),
            vec![CallbackEvent::Report {
                provider_message_id: "200163836".into(),
                message_id: String::new(),
                delivered: false,
                reason: "wechat failed:user block".into(),
            }]
        );
        let other =
            "<xml><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event></xml>";
        assert_eq!(parse_wechat_push(other.as_bytes()).unwrap(), vec![]);
    }

    #[test]
    fn wechat_signature_is_sha1_of_the_sorted_parts() {
        let token = "maitre-callback-token";
        let signature = wechat_signature(token, "1714036504", "1514711492");
        let mut parts = ["1714036504", "1514711492", token];
        parts.sort_unstable();
        assert_eq!(
            signature,
            hex::encode(Sha1::digest(parts.concat().as_bytes()))
        );
        assert_eq!(
            verify_wechat(token, &signature, "1714036504", "1514711492"),
            Ok(())
        );
        assert_eq!(
            verify_wechat(token, &signature, "1714036505", "1514711492"),
            Err(CallbackError::BadSignature)
        );
        assert_eq!(
            verify_wechat("", &wechat_signature("", "1", "2"), "1", "2"),
            Err(CallbackError::BadSignature)
        );
    }

    #[test]
    fn tokens_and_phones() {
        assert!(token_matches("abcdefgh12345678", "abcdefgh12345678"));
        assert!(!token_matches("abcdefgh12345678", "abcdefgh12345679"));
        assert!(!token_matches("", ""));
        assert_eq!(phone_e164("86", "13800138001"), "+8613800138001");
        assert_eq!(phone_e164("", "+8613800138001"), "+8613800138001");
        assert_eq!(phone_e164("86", "8613800138001"), "+8613800138001");
        assert_eq!(phone_e164("852", "91234567"), "+85291234567");
    }
}
