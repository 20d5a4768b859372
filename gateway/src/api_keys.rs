//! API keys at the edge: an integration's secret (`Authorization: Bearer mtr_…` or
//! `x-api-key: mtr_…`) becomes the same [`Caller`] a token produces.
//!
//! Profile keeps the keys (hashed) and answers `ApiKeyResolver/ResolveApiKey` with the
//! key's identity and a short-lived token signed by profile's own key; the gateway verifies
//! that token with the verifier every bearer token passes, and forwards it to the services
//! in place of the secret. So the services see an ordinary token and apply every scope rule
//! unchanged, and the internet-facing gateway holds no signing key.
//!
//! A resolution is remembered for [`RESOLUTION_TTL`] per replica: a revoked key is refused
//! by every replica within that time, while an integration's steady traffic costs profile
//! one call per key and replica every few seconds.

use std::time::Duration;

use bytes::Bytes;
use maitre_kit::{
    auth::{Caller, Verifier, api_key},
    config::ServiceName,
    ttl_map::TtlMap,
};
use maitre_proto::profile::v1::{ResolveApiKeyRequest, ResolveApiKeyResponse};
use prost::Message;
use tonic::{Code, Status, metadata::MetadataMap};

use crate::{errors::ApiError, upstream::Upstreams};

/// How long a replica trusts a resolution: the most a revocation waits to take effect.
pub const RESOLUTION_TTL: Duration = Duration::from_secs(5);

/// Secrets remembered per replica (resolved or refused).
const CAPACITY: usize = 10_000;

const RESOLVE_PATH: &str = "/maitre.profile.v1.ApiKeyResolver/ResolveApiKey";

/// Resolves API keys through profile, remembering answers briefly.
#[derive(Clone)]
pub struct ApiKeys {
    upstreams: Upstreams,
    /// By the secret's SHA-256 (the secret itself is not kept): the caller, or the refusal.
    resolved: std::sync::Arc<TtlMap<Vec<u8>, Result<Caller, String>>>,
}

impl ApiKeys {
    /// Keys resolved by the profile service among `upstreams`.
    pub fn new(upstreams: Upstreams) -> Self {
        Self {
            upstreams,
            resolved: std::sync::Arc::new(TtlMap::with_capacity(CAPACITY)),
        }
    }

    /// The caller of an API key secret, or why it is refused (401; 503 while profile cannot
    /// answer, which is not remembered).
    pub async fn resolve(&self, verifier: &Verifier, secret: &str) -> Result<Caller, ApiError> {
        if api_key::key_id_of(secret).is_none() {
            return Err(ApiError::Unauthenticated("malformed API key".into()));
        }
        let hash = api_key::hash(secret);
        if let Some(known) = self.resolved.get(&hash) {
            return known.map_err(ApiError::Unauthenticated);
        }
        let request = Bytes::from(
            ResolveApiKeyRequest {
                secret: secret.to_owned(),
            }
            .encode_to_vec(),
        );
        let answer = self
            .upstreams
            .unary(
                ServiceName::Profile,
                RESOLVE_PATH,
                request,
                MetadataMap::new(),
            )
            .await;
        let outcome = match answer {
            Ok(bytes) => {
                let answer = ResolveApiKeyResponse::decode(bytes).map_err(|e| {
                    ApiError::Upstream(Status::internal(format!(
                        "undecodable API key resolution: {e}"
                    )))
                })?;
                // The token path's own verification: the key's caller is exactly the
                // caller its token produces.
                verifier
                    .verify(&answer.token)
                    .map_err(|status| format!("API key token refused: {}", status.message()))
            }
            Err(status) if status.code() == Code::Unauthenticated => {
                Err(status.message().to_owned())
            }
            Err(status) => return Err(ApiError::Upstream(status)),
        };
        self.resolved.insert(hash, outcome.clone(), RESOLUTION_TTL);
        outcome.map_err(ApiError::Unauthenticated)
    }
}
