//! Webhook request signatures, so receivers can check a call came from Maitre and was not replayed.
//!
//! Header format (one header, comma-separated `key=value` pairs):
//! ```text
//! X-Maitre-Signature: t=1718700000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//! ```
//! - `t`: Unix seconds when the request was signed;
//! - `v1`: lowercase hex HMAC-SHA256, keyed with the endpoint's secret, over the bytes
//!   `"{t}." + body` (timestamp, a dot, the raw body) — binding the timestamp prevents replaying an old
//!   body with a fresh `t`.
//!
//! During secret rotation the header may carry several `v1` entries; verification accepts any match.
//! Unknown keys are ignored so new schemes can be added beside `v1`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::error::SignatureError;

pub const SIGNATURE_HEADER: &str = "X-Maitre-Signature";
/// Default accepted clock difference between signer and verifier.
pub const DEFAULT_TOLERANCE_S: u64 = 300;

type HmacSha256 = Hmac<Sha256>;

/// The `X-Maitre-Signature` value for `body` signed at `timestamp_s`.
pub fn sign_webhook(
    secret: &[u8],
    timestamp_s: i64,
    body: &[u8],
) -> Result<String, SignatureError> {
    let mac = keyed_mac(secret, timestamp_s, body)?;
    Ok(format!(
        "t={timestamp_s},v1={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// Verifies a header value against `body`: the timestamp must be within `tolerance_s` of `now_s` and one
/// `v1` signature must match (compared in constant time).
pub fn verify_webhook(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_s: i64,
    tolerance_s: u64,
) -> Result<(), SignatureError> {
    let parsed = parse_header(header)?;
    if parsed.timestamp_s.abs_diff(now_s) > tolerance_s {
        return Err(SignatureError::TimestampOutsideTolerance {
            timestamp_s: parsed.timestamp_s,
            now_s,
            tolerance_s,
        });
    }
    let mac = keyed_mac(secret, parsed.timestamp_s, body)?;
    let matched = parsed
        .v1_signatures
        .iter()
        .filter_map(|candidate| hex::decode(candidate).ok())
        .any(|candidate| mac.clone().verify_slice(&candidate).is_ok());
    if matched {
        Ok(())
    } else {
        Err(SignatureError::NoMatchingSignature)
    }
}

struct ParsedHeader<'a> {
    timestamp_s: i64,
    v1_signatures: Vec<&'a str>,
}

fn parse_header(header: &str) -> Result<ParsedHeader<'_>, SignatureError> {
    let mut timestamp_s = None;
    let mut v1_signatures = Vec::new();
    for pair in header.split(',') {
        let (key, value) = pair
            .trim()
            .split_once('=')
            .ok_or(SignatureError::MalformedHeader {
                reason: "expected key=value pairs",
            })?;
        match key {
            "t" if timestamp_s.is_some() => {
                return Err(SignatureError::MalformedHeader {
                    reason: "more than one t",
                });
            }
            "t" => {
                let parsed = value
                    .parse::<i64>()
                    .map_err(|_| SignatureError::MalformedHeader {
                        reason: "t is not Unix seconds",
                    })?;
                timestamp_s = Some(parsed);
            }
            "v1" => v1_signatures.push(value),
            _ => {}
        }
    }
    let timestamp_s = timestamp_s.ok_or(SignatureError::MalformedHeader {
        reason: "missing t",
    })?;
    if v1_signatures.is_empty() {
        return Err(SignatureError::MalformedHeader {
            reason: "missing v1",
        });
    }
    Ok(ParsedHeader {
        timestamp_s,
        v1_signatures,
    })
}

fn keyed_mac(secret: &[u8], timestamp_s: i64, body: &[u8]) -> Result<HmacSha256, SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::EmptySecret);
    }
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| SignatureError::EmptySecret)?;
    mac.update(timestamp_s.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SECRET: &[u8] = b"whsec_test";
    const BODY: &[u8] = br#"{"occurrence":"birthday:c1:2026"}"#;
    const T: i64 = 1_718_700_000;

    #[test]
    fn known_vector() {
        // Computed independently with Python: hmac.new(b"whsec_test", b"1718700000." + body, sha256).
        assert_eq!(
            sign_webhook(SECRET, T, BODY),
            Ok(
                "t=1718700000,v1=5b6094a0299c9632a2665ad982a9bc36864bf06e9cc77a4d511c6ee4e6ca89ef"
                    .to_string()
            )
        );
    }

    #[test]
    fn header_format() {
        let header = sign_webhook(SECRET, T, BODY).expect("signs");
        let (t, v1) = header.split_once(',').expect("two parts");
        assert_eq!(t, format!("t={T}"));
        let hex_part = v1.strip_prefix("v1=").expect("v1 prefix");
        assert_eq!(hex_part.len(), 64);
        assert!(
            hex_part
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[test]
    fn signed_payload_is_timestamp_dot_body() {
        let mut mac = HmacSha256::new_from_slice(SECRET).expect("key");
        mac.update(format!("{T}.").as_bytes());
        mac.update(BODY);
        let expected = format!("t={T},v1={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(sign_webhook(SECRET, T, BODY), Ok(expected));
    }

    #[test]
    fn verifies_within_tolerance() {
        let header = sign_webhook(SECRET, T, BODY).expect("signs");
        assert_eq!(verify_webhook(SECRET, &header, BODY, T + 300, 300), Ok(()));
        assert_eq!(verify_webhook(SECRET, &header, BODY, T - 300, 300), Ok(()));
        assert_eq!(
            verify_webhook(SECRET, &header, BODY, T + 301, 300),
            Err(SignatureError::TimestampOutsideTolerance {
                timestamp_s: T,
                now_s: T + 301,
                tolerance_s: 300
            })
        );
    }

    #[test]
    fn tampering_is_detected() {
        let header = sign_webhook(SECRET, T, BODY).expect("signs");
        assert_eq!(
            verify_webhook(SECRET, &header, b"{}", T, 300),
            Err(SignatureError::NoMatchingSignature)
        );
        assert_eq!(
            verify_webhook(b"other", &header, BODY, T, 300),
            Err(SignatureError::NoMatchingSignature)
        );
        let replayed = header.replacen(&format!("t={T}"), &format!("t={}", T + 1), 1);
        assert_eq!(
            verify_webhook(SECRET, &replayed, BODY, T, 300),
            Err(SignatureError::NoMatchingSignature)
        );
    }

    #[test]
    fn rotation_accepts_any_v1() {
        let header = sign_webhook(SECRET, T, BODY).expect("signs");
        let v1 = header.split_once(",v1=").map(|(_, v1)| v1).expect("v1");
        let rotated = format!("t={T},v1={},v1={v1},v0=legacy", "00".repeat(32));
        assert_eq!(verify_webhook(SECRET, &rotated, BODY, T, 300), Ok(()));
    }

    #[test]
    fn malformed_headers_are_named() {
        let malformed = |reason| Err(SignatureError::MalformedHeader { reason });
        assert_eq!(
            verify_webhook(SECRET, "garbage", BODY, T, 300),
            malformed("expected key=value pairs")
        );
        assert_eq!(
            verify_webhook(SECRET, "v1=abcd", BODY, T, 300),
            malformed("missing t")
        );
        assert_eq!(
            verify_webhook(SECRET, "t=1", BODY, 1, 300),
            malformed("missing v1")
        );
        assert_eq!(
            verify_webhook(SECRET, "t=soon,v1=ab", BODY, T, 300),
            malformed("t is not Unix seconds")
        );
        assert_eq!(
            verify_webhook(SECRET, "t=1,t=2,v1=ab", BODY, 1, 300),
            malformed("more than one t")
        );
        assert_eq!(
            verify_webhook(SECRET, &format!("t={T},v1=zz"), BODY, T, 300),
            Err(SignatureError::NoMatchingSignature)
        );
    }

    #[test]
    fn empty_secret_is_rejected() {
        assert_eq!(sign_webhook(b"", T, BODY), Err(SignatureError::EmptySecret));
    }

    proptest! {
        #[test]
        fn sign_then_verify_round_trips(body in proptest::collection::vec(any::<u8>(), 0..256), t in 0i64..4_000_000_000) {
            let header = sign_webhook(SECRET, t, &body).expect("signs");
            prop_assert_eq!(verify_webhook(SECRET, &header, &body, t, 0), Ok(()));
        }

        #[test]
        fn verify_never_panics(header in "\\PC{0,120}") {
            let _ = verify_webhook(SECRET, &header, BODY, T, 300);
        }
    }
}
