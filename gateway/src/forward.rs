//! What the gateway passes on to a service with a call, and the bounds that keep one
//! caller's headers from hurting anyone else's calls.
//!
//! Calls of every tenant share a few HTTP/2 connections to each service. A header block a
//! service refuses can end the whole connection (an oversized block arrives as a run of
//! CONTINUATION frames, which the HTTP/2 server answers with GOAWAY), failing every call in
//! flight on it. So nothing a caller sends is forwarded as it came:
//! - only the headers named here go on: the verified token, `x-request-id`,
//!   `accept-language`, W3C `traceparent`/`tracestate`, and the gRPC protocol headers;
//! - each is checked against its format and bound, and dropped when it fails (a request id
//!   is then generated afresh);
//! - a request whose whole header set exceeds [`MAX_REQUEST_HEADER_BYTES`] is refused at
//!   the edge with 431 before any upstream call.
//!
//! The token is bounded by the verifier (`maitre_kit::auth::MAX_TOKEN_BYTES`), so what a
//! service receives stays well under the header list size services accept
//! (`maitre_kit::server::MAX_HEADER_LIST_BYTES`).

use axum::{extract::Request, middleware::Next, response::IntoResponse, response::Response};
use http::{HeaderMap, HeaderName, HeaderValue, header};
use maitre_kit::auth::Caller;

use crate::{
    edge::is_grpc,
    errors::{ApiError, grpc_refusal},
};

/// The largest request header set the gateway accepts, counted as HTTP/2 does (name + value
/// + 32 bytes per field, RFC 9113 §6.5.2): room for the largest accepted token
///   (64 KiB) and the usual browser headers.
pub const MAX_REQUEST_HEADER_BYTES: usize = 96 * 1024;
/// `x-request-id`: 1 to 128 visible ASCII characters.
pub const MAX_REQUEST_ID_CHARS: usize = 128;
/// `accept-language`: at most 256 characters of language ranges (RFC 9110 §12.5.4).
pub const MAX_ACCEPT_LANGUAGE_CHARS: usize = 256;
/// `tracestate`: at most 32 list members (W3C Trace Context §3.3.1.1).
pub const MAX_TRACESTATE_MEMBERS: usize = 32;
/// `tracestate`: at most 512 characters (the length W3C Trace Context §3.3.1.5 requires
/// vendors to propagate).
pub const MAX_TRACESTATE_CHARS: usize = 512;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Headers of the caller's request a service sees, each only when its value is valid.
const FORWARDED: [HeaderName; 4] = [REQUEST_ID, header::ACCEPT_LANGUAGE, TRACEPARENT, TRACESTATE];

/// gRPC protocol headers a forwarded gRPC call keeps (framing, deadline, compression).
const GRPC_PROTOCOL: [HeaderName; 5] = [
    header::CONTENT_TYPE,
    header::TE,
    HeaderName::from_static("grpc-timeout"),
    HeaderName::from_static("grpc-encoding"),
    HeaderName::from_static("grpc-accept-encoding"),
];

/// The size of a header set as HTTP/2 counts it against `SETTINGS_MAX_HEADER_LIST_SIZE`.
pub fn header_list_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum()
}

/// True when `value` is an acceptable value of the forwarded header `name`.
fn is_valid(name: &HeaderName, value: &HeaderValue) -> bool {
    let Ok(text) = value.to_str() else {
        return false;
    };
    match name.as_str() {
        "x-request-id" => is_request_id(text),
        "accept-language" => is_accept_language(text),
        "traceparent" => is_traceparent(text),
        "tracestate" => is_tracestate(text),
        _ => false,
    }
}

fn is_request_id(text: &str) -> bool {
    (1..=MAX_REQUEST_ID_CHARS).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic())
}

fn is_accept_language(text: &str) -> bool {
    text.len() <= MAX_ACCEPT_LANGUAGE_CHARS
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b",;=.-* ".contains(&b))
}

/// W3C Trace Context §3.2: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, ids
/// not all zero. Later versions may append fields; only version 00 is understood here.
fn is_traceparent(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    matches!(parts.as_slice(), [version, trace, parent, flags]
        if *version == "00" && hex(trace, 32) && nonzero(trace)
            && hex(parent, 16) && nonzero(parent) && hex(flags, 2))
}

/// W3C Trace Context §3.3: up to 32 comma-separated `key=value` members, keys of lowercase
/// letters, digits and `_-*/` (with one `@` for multi-tenant keys), values of printable
/// ASCII but `,` and `=`; here also at most 512 characters in all.
fn is_tracestate(text: &str) -> bool {
    if text.len() > MAX_TRACESTATE_CHARS {
        return false;
    }
    let members: Vec<&str> = text
        .split(',')
        .map(|m| m.trim_matches([' ', '\t']))
        .filter(|m| !m.is_empty())
        .collect();
    members.len() <= MAX_TRACESTATE_MEMBERS
        && members.iter().all(|member| {
            member.split_once('=').is_some_and(|(key, value)| {
                is_tracestate_key(key)
                    && (1..=256).contains(&value.len())
                    && !value.ends_with(' ')
                    && value
                        .bytes()
                        .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
            })
        })
}

fn is_tracestate_key(key: &str) -> bool {
    let simple = |s: &str, max: usize| {
        (1..=max).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/".contains(&b))
    };
    match key.split_once('@') {
        None => simple(key, 256) && key.as_bytes()[0].is_ascii_lowercase(),
        Some((tenant, system)) => simple(tenant, 241) && simple(system, 14),
    }
}

/// Removes forwarded headers whose values are invalid, in place. An invalid `traceparent`
/// takes `tracestate` with it (W3C Trace Context §3.3: no state without a valid parent).
pub fn sanitise(headers: &mut HeaderMap) {
    for name in FORWARDED {
        let valid = {
            let values: Vec<&HeaderValue> = headers.get_all(&name).iter().collect();
            matches!(values.as_slice(), [value] if is_valid(&name, value))
        };
        if !valid {
            headers.remove(&name);
        }
    }
    if !headers.contains_key(TRACEPARENT) {
        headers.remove(TRACESTATE);
    }
}

/// The headers of `incoming` a service sees with a call made for `caller`: the verified
/// token and the valid forwarded headers, nothing else.
pub fn forwarded_headers(caller: &Caller, incoming: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&format!("Bearer {}", caller.token)) {
        headers.insert(header::AUTHORIZATION, value);
    }
    let mut checked = HeaderMap::new();
    for name in FORWARDED {
        for value in incoming.get_all(&name) {
            checked.append(name.clone(), value.clone());
        }
    }
    sanitise(&mut checked);
    headers.extend(checked);
    headers
}

/// The headers of a gRPC call forwarded as it is: its protocol headers and
/// [`forwarded_headers`]; custom metadata stays at the gateway.
pub fn forwarded_grpc_headers(caller: &Caller, incoming: &HeaderMap) -> HeaderMap {
    let mut headers = forwarded_headers(caller, incoming);
    for name in GRPC_PROTOCOL {
        if let Some(value) = incoming.get(&name) {
            headers.insert(name, value.clone());
        }
    }
    headers
}

/// Middleware: [`bound`], then the request goes on.
pub async fn bound_headers(mut request: Request, next: Next) -> Response {
    match bound(&mut request) {
        None => next.run(request).await,
        Some(refusal) => refusal,
    }
}

/// Refuses an oversized header set with 431 (the refusal returned), and drops invalid
/// forwarded headers; run first
/// (by `body_limit::json_errors`, the outermost layer) so that tracing, request ids and
/// handlers never see them.
pub fn bound(request: &mut Request) -> Option<Response> {
    let bytes = header_list_bytes(request.headers());
    if bytes > MAX_REQUEST_HEADER_BYTES {
        let error = ApiError::HeadersTooLarge {
            field: "headers".into(),
            message: format!(
                "request headers are {bytes} bytes; at most {MAX_REQUEST_HEADER_BYTES} are accepted"
            ),
        };
        return Some(if is_grpc(request.headers()) {
            grpc_refusal(&error)
        } else {
            error.into_response()
        });
    }
    sanitise(request.headers_mut());
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use maitre_kit::auth::Role;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    fn caller() -> Caller {
        Caller {
            chain_id: "c".into(),
            staff_id: "s".into(),
            role: Role::HqAdmin,
            stores: Vec::new(),
            token: "t.o.k".into(),
        }
    }

    #[test]
    fn only_named_valid_headers_are_forwarded() {
        let incoming = map(&[
            ("x-request-id", "req-42"),
            ("accept-language", "zh-CN,zh;q=0.9,en;q=0.8"),
            ("traceparent", PARENT),
            ("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
            ("authorization", "Bearer forged"),
            ("x-tenant", "other-chain"),
            ("cookie", "a=b"),
        ]);
        let out = forwarded_headers(&caller(), &incoming);
        assert_eq!(out["authorization"], "Bearer t.o.k");
        assert_eq!(out["x-request-id"], "req-42");
        assert_eq!(out["traceparent"], PARENT);
        assert!(out.contains_key("tracestate"));
        assert!(out.contains_key("accept-language"));
        assert_eq!(out.len(), 5, "{out:?}");
    }

    #[test]
    fn oversized_or_malformed_values_are_dropped() {
        let members = (0..33)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        let cases = [
            ("tracestate", "a=".to_owned() + &"x".repeat(600)),
            ("tracestate", members),
            ("tracestate", "Upper=1".into()),
            ("tracestate", "k=v=w".into()),
            (
                "traceparent",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01".into(),
            ),
            (
                "traceparent",
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            ),
            ("traceparent", format!("{PARENT}-extra")),
            ("x-request-id", "r".repeat(129)),
            ("x-request-id", "has space".into()),
            ("accept-language", "en;q=1".repeat(50)),
            ("accept-language", "en<script>".into()),
        ];
        for (name, value) in cases {
            let mut incoming = map(&[("traceparent", PARENT), (name, &value)]);
            if name == "traceparent" {
                incoming.remove("traceparent");
                incoming.insert("traceparent", HeaderValue::from_str(&value).unwrap());
            }
            let out = forwarded_headers(&caller(), &incoming);
            assert!(!out.contains_key(name), "{name}: {value}");
        }
    }

    #[test]
    fn tracestate_goes_only_with_a_valid_traceparent() {
        let out = forwarded_headers(&caller(), &map(&[("tracestate", "a=b")]));
        assert!(!out.contains_key("tracestate"));
        let out = forwarded_headers(
            &caller(),
            &map(&[("traceparent", "garbage"), ("tracestate", "a=b")]),
        );
        assert!(!out.contains_key("tracestate"));
    }

    #[test]
    fn repeated_forwarded_headers_are_dropped() {
        let out = forwarded_headers(
            &caller(),
            &map(&[("x-request-id", "a"), ("x-request-id", "b")]),
        );
        assert!(!out.contains_key("x-request-id"));
    }

    #[test]
    fn grpc_calls_keep_protocol_headers_only() {
        let incoming = map(&[
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("grpc-timeout", "5S"),
            ("x-custom", "y"),
            ("user-agent", "grpc-go"),
        ]);
        let out = forwarded_grpc_headers(&caller(), &incoming);
        assert_eq!(out["content-type"], "application/grpc");
        assert_eq!(out["grpc-timeout"], "5S");
        assert!(!out.contains_key("x-custom"));
        assert!(!out.contains_key("user-agent"));
    }

    #[test]
    fn header_list_bytes_count_as_http2_does() {
        assert_eq!(header_list_bytes(&map(&[("ab", "cde")])), 2 + 3 + 32);
    }
}
