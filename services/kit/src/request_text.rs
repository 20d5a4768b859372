//! Text in requests: no string field of any request may contain a NUL character.
//!
//! PostgreSQL cannot store U+0000 in text (`invalid byte sequence for encoding "UTF8":
//! 0x00`, a 500) while SQLite stores it, so both backends refuse it here, before any
//! handler runs, the same way: INVALID_ARGUMENT naming the field path
//! (`store.name`, `events[2].external_id`, `variables[greeting]`). One tower layer in the
//! services' server builder (`server::serve_grpc`) covers every RPC of every service, for
//! the gateway's calls and direct gRPC callers alike. The same layer holds every request to
//! the bounds of [`crate::request_bounds`] (items per repeated field, the window of times and
//! dates, the chain's currency), decoding the request message by its descriptor
//! (prost-reflect) once for both checks.

use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Limited};
use prost_reflect::{DynamicMessage, MapKey, MessageDescriptor, Value};
use tonic::{Status, body::Body};
use tower::{Layer, Service};

/// The largest request body buffered for the check: tonic's default decoding limit (4 MiB)
/// plus the frame header.
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024 + 5;

/// Refuses requests whose text contains NUL; see the module documentation.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestTextLayer;

impl<S> Layer<S> for RequestTextLayer {
    type Service = RequestTextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestTextService { inner }
    }
}

/// The service made by [`RequestTextLayer`].
#[derive(Clone, Debug)]
pub struct RequestTextService<S> {
    inner: S,
}

impl<S> Service<http::Request<Body>> for RequestTextService<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let Some(input) = unary_input(request.uri().path()) else {
            return Box::pin(self.inner.call(request));
        };
        // The clone is ready only after `poll_ready`; call the one that was polled.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let bytes = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) => {
                    let status = Status::resource_exhausted(format!("request body: {e}"));
                    return Ok(status.into_http());
                }
            };
            if let Some(status) = refusal(&input, &bytes) {
                return Ok(status.into_http());
            }
            inner
                .call(http::Request::from_parts(
                    parts,
                    Body::new(http_body_util::Full::new(bytes)),
                ))
                .await
        })
    }
}

/// The request message of a contract method whose request is one message (unary and
/// server-streaming); `None` for anything else (health, reflection, client streams).
fn unary_input(path: &str) -> Option<MessageDescriptor> {
    let (service, method) = path.trim_start_matches('/').split_once('/')?;
    let method = maitre_proto::descriptor_pool()
        .get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == method)?;
    (!method.is_client_streaming()).then(|| method.input())
}

/// Why the request in the gRPC frames of `body` is refused: a string field holding NUL or a
/// field outside its bounds. Frames that are compressed or do not decode are left to tonic,
/// which refuses them.
fn refusal(input: &MessageDescriptor, mut body: &[u8]) -> Option<Status> {
    while body.len() >= 5 {
        let compressed = body.get_u8() != 0;
        let length = body.get_u32() as usize;
        let payload = body.get(..length)?;
        body = &body[length..];
        if compressed || payload.is_empty() {
            continue;
        }
        let Ok(message) = DynamicMessage::decode(input.clone(), Bytes::copy_from_slice(payload))
        else {
            continue;
        };
        if payload.contains(&0)
            && let Some(path) = nul_in_message(&message, "")
        {
            return Some(crate::error::invalid_argument(
                &path,
                "must not contain NUL characters",
            ));
        }
        if let Some(found) = crate::request_bounds::violation(&message) {
            return Some(crate::error::invalid_argument(&found.field, found.message));
        }
    }
    None
}

/// The path of the first string field holding NUL in the gRPC frames of `body`.
#[cfg(test)]
fn field_with_nul(input: &MessageDescriptor, body: &[u8]) -> Option<String> {
    refusal(input, body).and_then(|status| crate::error::field_of(&status))
}

fn nul_in_message(message: &DynamicMessage, prefix: &str) -> Option<String> {
    message
        .fields()
        .find_map(|(field, value)| nul_in_value(value, &format!("{prefix}{}", field.name())))
}

fn nul_in_value(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(text) if text.contains('\0') => Some(path.to_owned()),
        Value::Message(message) => nul_in_message(message, &format!("{path}.")),
        Value::List(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_in_value(item, &format!("{path}[{i}]"))),
        Value::Map(entries) => entries.iter().find_map(|(key, item)| match key {
            MapKey::String(key) if key.contains('\0') => Some(format!("{path}[]")),
            MapKey::String(key) => nul_in_value(item, &format!("{path}[{key}]")),
            _ => nul_in_value(item, &format!("{path}[]")),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maitre_proto::profile::v1::{CreateStoreRequest, Store};
    use prost::Message;

    fn frame(message: &impl Message) -> Vec<u8> {
        let payload = message.encode_to_vec();
        let mut out = vec![0];
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&payload);
        out
    }

    fn create_store(name: &str) -> Vec<u8> {
        frame(&CreateStoreRequest {
            store: Some(Store {
                name: name.into(),
                ..Default::default()
            }),
            request_id: "r1".into(),
        })
    }

    #[test]
    fn names_the_field_holding_nul() {
        let input = unary_input("/maitre.profile.v1.ProfileService/CreateStore").unwrap();
        assert_eq!(
            field_with_nul(&input, &create_store("Main\0street")).as_deref(),
            Some("store.name")
        );
        assert_eq!(field_with_nul(&input, &create_store("Main street")), None);
    }

    #[test]
    fn only_contract_methods_with_one_request_are_checked() {
        assert!(unary_input("/maitre.profile.v1.ProfileService/Watch").is_some());
        assert!(unary_input("/grpc.health.v1.Health/Check").is_none());
        assert!(unary_input("/maitre.profile.v1.ProfileService/NoSuch").is_none());
    }

    #[tokio::test]
    async fn refuses_before_the_handler_and_passes_the_rest_unchanged() {
        let handler = tower::service_fn(|request: http::Request<Body>| async move {
            let body = request.into_body().collect().await.unwrap().to_bytes();
            let mut response = http::Response::new(Body::default());
            response
                .headers_mut()
                .insert("x-seen-bytes", body.len().into());
            Ok::<_, std::convert::Infallible>(response)
        });
        let mut service = RequestTextLayer.layer(handler);
        let call = |body: Vec<u8>| {
            http::Request::builder()
                .uri("/maitre.profile.v1.ProfileService/CreateStore")
                .body(Body::new(http_body_util::Full::new(Bytes::from(body))))
                .unwrap()
        };
        let refused = service.call(call(create_store("a\0b"))).await.unwrap();
        let status = Status::from_header_map(refused.headers()).unwrap();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            crate::error::field_of(&status).as_deref(),
            Some("store.name")
        );
        assert!(refused.headers().get("x-seen-bytes").is_none());

        let clean = create_store("ab");
        let passed = service.call(call(clean.clone())).await.unwrap();
        assert_eq!(passed.headers()["x-seen-bytes"], clean.len().to_string());
    }
}
