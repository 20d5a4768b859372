//! The edge checks every protected request passes before any upstream call: a verified
//! bearer token or an integration's API key (`api_keys`; 401 otherwise) and the rate limits per token and per chain (429 with
//! `Retry-After`), counted in shared coordination so the limits hold across replicas. The
//! limits are GCRA rate limits (`Coordination::rate_hit`): one timestamp per token and per
//! chain, so checking costs the same at 10 requests a minute or 10,000 a second.
//!
//! An admitted request then takes its units of its chain's share of the replica
//! (`shares`), waiting behind its own chain's requests only.
//!
//! The services verify the same token again and enforce role and store scope; the edge
//! only keeps unauthenticated and abusive traffic away from them.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, header};
use maitre_kit::{
    auth::{Caller, Verifier, api_key},
    coord::Coordination,
};

use crate::{AppState, api_keys::ApiKeys, errors::ApiError, errors::grpc_refusal};

/// The header an integration may send its API key in (instead of `Authorization: Bearer`).
pub const API_KEY_HEADER: &str = "x-api-key";

/// The sliding window the limits are counted over.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Requests per minute allowed per token and per chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Per bearer token.
    pub per_token_per_minute: u64,
    /// Per chain, over all its tokens.
    pub per_chain_per_minute: u64,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_token_per_minute: 6_000,
            per_chain_per_minute: 60_000,
        }
    }
}

/// Authentication and rate limiting.
#[derive(Clone)]
pub struct Edge {
    verifier: Verifier,
    coord: Arc<dyn Coordination>,
    limits: RateLimits,
    /// API key resolution; `None` refuses keys (an edge without a profile service).
    api_keys: Option<ApiKeys>,
}

/// What a request authenticates with.
enum Credential<'a> {
    /// A JWT.
    Token(&'a str),
    /// An integration's API key secret.
    ApiKey(&'a str),
}

impl Edge {
    /// An edge verifying with `verifier` and counting in `coord`.
    pub fn new(verifier: Verifier, coord: Arc<dyn Coordination>, limits: RateLimits) -> Self {
        Self {
            verifier,
            coord,
            limits,
            api_keys: None,
        }
    }

    /// The same edge, accepting API keys resolved by `api_keys`.
    pub fn with_api_keys(mut self, api_keys: ApiKeys) -> Self {
        self.api_keys = Some(api_keys);
        self
    }

    /// The verified caller of a request within its limits, or why it is refused.
    pub async fn admit(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let (caller, limiter_key) = match credential(headers)? {
            Credential::Token(token) => {
                let caller = self
                    .verifier
                    .verify_fresh(token)
                    .await
                    .map_err(refusal_of_token)?;
                (caller, token_key(token))
            }
            Credential::ApiKey(secret) => {
                let keys = self.api_keys.as_ref().ok_or_else(|| {
                    ApiError::Unauthenticated("API keys are not accepted here".into())
                })?;
                let caller = keys.resolve(&self.verifier, secret).await?;
                // A key's limit is its own, whichever token it is resolved to.
                let key_id = api_key::key_id_of(secret).unwrap_or_default();
                (caller, format!("rl:key:{key_id}"))
            }
        };
        self.count(&limiter_key, "token", self.limits.per_token_per_minute)
            .await?;
        self.count(
            &format!("rl:chain:{}", caller.chain_id),
            "chain",
            self.limits.per_chain_per_minute,
        )
        .await?;
        Ok(caller)
    }

    async fn count(&self, key: &str, limit: &'static str, per_minute: u64) -> Result<(), ApiError> {
        match self.coord.rate_hit(key, per_minute, RATE_WINDOW).await {
            Ok(decision) if decision.allowed => Ok(()),
            Ok(decision) => Err(ApiError::RateLimited {
                limit,
                retry_after: decision.retry_after,
            }),
            // Fail open: a coordination outage must not take the API down; the services
            // still authenticate and authorise every call.
            Err(e) => {
                tracing::warn!(error = %e, "rate limit not counted");
                Ok(())
            }
        }
    }
}

/// Why the verifier refused a token, as the edge answers it: beyond the stated token bounds
/// (INVALID_ARGUMENT naming `authorization`) is 431, anything else 401.
fn refusal_of_token(status: tonic::Status) -> ApiError {
    match maitre_kit::error::field_of(&status) {
        Some(field) if status.code() == tonic::Code::InvalidArgument => {
            let prefix = format!("{field}: ");
            let message = status.message();
            ApiError::HeadersTooLarge {
                message: message.strip_prefix(&prefix).unwrap_or(message).to_owned(),
                field,
            }
        }
        _ => ApiError::Unauthenticated(status.message().to_owned()),
    }
}

/// The credential of a request: `x-api-key: <key>`, or `Authorization: Bearer` with a token
/// or a key (keys start with `mtr_`, tokens never do). Both headers at once are refused, so
/// which identity a call acts as is never a guess.
fn credential(headers: &HeaderMap) -> Result<Credential<'_>, ApiError> {
    if let Some(value) = headers.get(API_KEY_HEADER) {
        if headers.contains_key(header::AUTHORIZATION) {
            return Err(ApiError::Unauthenticated(
                "send either Authorization or x-api-key, not both".into(),
            ));
        }
        let secret = value
            .to_str()
            .map_err(|_| ApiError::Unauthenticated("malformed x-api-key header".into()))?
            .trim();
        if !api_key::is_api_key(secret) {
            return Err(ApiError::Unauthenticated(
                "x-api-key must carry an API key (mtr_…); a token goes in Authorization".into(),
            ));
        }
        return Ok(Credential::ApiKey(secret));
    }
    let token = bearer_token(headers)?;
    Ok(if api_key::is_api_key(token) {
        Credential::ApiKey(token)
    } else {
        Credential::Token(token)
    })
}

/// The token of `Authorization: Bearer <token>`.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthenticated("missing bearer token".into()))?
        .to_str()
        .map_err(|_| ApiError::Unauthenticated("malformed authorization header".into()))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::Unauthenticated("authorization must be `Bearer <token>`".into()))?
        .trim();
    if token.is_empty() {
        return Err(ApiError::Unauthenticated("missing bearer token".into()));
    }
    Ok(token)
}

/// The limiter key of a token: its signature (unique per token, and not the credential's
/// payload), bounded in length.
fn token_key(token: &str) -> String {
    let signature = token.rsplit('.').next().unwrap_or(token);
    let end = signature
        .char_indices()
        .nth(64)
        .map(|(i, _)| i)
        .unwrap_or(signature.len());
    format!("rl:token:{}", &signature[..end])
}

/// True for gRPC and gRPC-Web requests (refusals are then gRPC statuses, not JSON).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// Middleware on every protected route: admits the request (putting the [`Caller`] in its
/// extensions) or answers the refusal in the caller's protocol.
pub async fn guard(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let admitted = match state.edge.admit(request.headers()).await {
        Ok(caller) => {
            let units = state.shares.cost(request.headers());
            match state.shares.enter(&caller.chain_id, units).await {
                Ok(share) => Ok((caller, share)),
                Err(full) => Err(full),
            }
        }
        Err(error) => Err(error),
    };
    match admitted {
        Ok((caller, share)) => {
            let chain = crate::access::ChainLabel(Arc::from(caller.chain_id.as_str()));
            request.extensions_mut().insert(caller);
            let mut response = next.run(request).await;
            // Held until the response's headers are ready (`shares`).
            drop(share);
            response.extensions_mut().insert(chain);
            response
        }
        Err(error) if is_grpc(request.headers()) => grpc_refusal(&error),
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use maitre_kit::auth::{Minter, Role};

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    async fn edge(limits: RateLimits) -> Edge {
        let coord = maitre_kit::coord::connect(None, "").await.unwrap();
        Edge::new(Verifier::hs256("k"), coord, limits)
    }

    #[tokio::test]
    async fn refuses_missing_and_malformed_credentials() {
        let edge = edge(RateLimits::default()).await;
        for value in [
            None,
            Some("Basic abc"),
            Some("Bearer "),
            Some("Bearer not.a.jwt"),
        ] {
            let refused = edge.admit(&headers(value)).await;
            assert!(
                matches!(refused, Err(ApiError::Unauthenticated(_))),
                "{value:?}"
            );
        }
        let token = Minter::hs256("k")
            .mint("s", "c1", Role::HqAdmin, &[], 60)
            .unwrap();
        let caller = edge
            .admit(&headers(Some(&format!("Bearer {token}"))))
            .await
            .unwrap();
        assert_eq!(caller.chain_id, "c1");
    }

    #[tokio::test]
    async fn limits_tokens_and_chains_separately() {
        let edge = edge(RateLimits {
            per_token_per_minute: 2,
            per_chain_per_minute: 3,
        })
        .await;
        let minter = Minter::hs256("k");
        let a = format!(
            "Bearer {}",
            minter.mint("a", "c1", Role::HqAdmin, &[], 60).unwrap()
        );
        let b = format!(
            "Bearer {}",
            minter.mint("b", "c1", Role::FrontDesk, &[], 60).unwrap()
        );
        assert!(edge.admit(&headers(Some(&a))).await.is_ok());
        assert!(edge.admit(&headers(Some(&a))).await.is_ok());
        match edge.admit(&headers(Some(&a))).await {
            Err(ApiError::RateLimited { limit, retry_after }) => {
                assert_eq!(limit, "token");
                assert!(retry_after > Duration::ZERO && retry_after <= RATE_WINDOW);
            }
            other => panic!("{other:?}"),
        }
        // Another token of the same chain: its own token limit, the chain's third request.
        assert!(edge.admit(&headers(Some(&b))).await.is_ok());
        assert!(matches!(
            edge.admit(&headers(Some(&b))).await,
            Err(ApiError::RateLimited { limit: "chain", .. })
        ));
    }

    #[test]
    fn api_keys_come_from_either_header_never_both() {
        let key = maitre_kit::auth::api_key::generate();
        let bearer = headers(Some(&format!("Bearer {}", key.secret)));
        assert!(matches!(credential(&bearer), Ok(Credential::ApiKey(s)) if s == key.secret));
        let mut by_header = headers(None);
        by_header.insert(API_KEY_HEADER, HeaderValue::from_str(&key.secret).unwrap());
        assert!(matches!(credential(&by_header), Ok(Credential::ApiKey(s)) if s == key.secret));
        let jwt = headers(Some("Bearer a.b.c"));
        assert!(matches!(credential(&jwt), Ok(Credential::Token("a.b.c"))));
        let mut both = headers(Some("Bearer a.b.c"));
        both.insert(API_KEY_HEADER, HeaderValue::from_str(&key.secret).unwrap());
        assert!(matches!(
            credential(&both),
            Err(ApiError::Unauthenticated(_))
        ));
        let mut token_as_key = headers(None);
        token_as_key.insert(API_KEY_HEADER, HeaderValue::from_static("a.b.c"));
        assert!(matches!(
            credential(&token_as_key),
            Err(ApiError::Unauthenticated(_))
        ));
    }

    #[tokio::test]
    async fn an_edge_without_key_resolution_refuses_keys() {
        let edge = edge(RateLimits::default()).await;
        let key = maitre_kit::auth::api_key::generate();
        let refused = edge
            .admit(&headers(Some(&format!("Bearer {}", key.secret))))
            .await;
        assert!(matches!(refused, Err(ApiError::Unauthenticated(_))));
    }

    #[test]
    fn token_keys_use_the_bounded_signature() {
        let key = token_key(&format!("h.p.{}", "s".repeat(300)));
        assert_eq!(key.len(), "rl:token:".len() + 64);
        assert_eq!(token_key("a.b.sig"), "rl:token:sig");
    }
}
