//! The chain's identity provider's signing keys, read from its JWKS URL
//! (`MAITRE_JWT_JWKS_URL`): several keys at once, chosen by the token's `kid`, RS256/RS384/
//! RS512/PS256/ES256/ES384 (never a symmetric key: a JWKS is public).
//!
//! Keys are fetched when the verifier is built, again every refresh period, and at once
//! (at most every [`MIN_REFRESH`]) when a token names a `kid` not in the set — which is how a
//! rotation reaches a running process. A failed fetch keeps the keys already known; an
//! identity provider that is briefly down therefore refuses no token it signed before.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm},
};

/// The soonest a `kid` miss may trigger another fetch: a flood of tokens with made-up key ids
/// costs the identity provider one request per period, not one per token.
pub const MIN_REFRESH: Duration = Duration::from_secs(10);

/// A verification key of the set.
#[derive(Clone)]
pub struct SigningKey {
    pub algorithm: Algorithm,
    pub key: Arc<DecodingKey>,
}

/// The key set and how to refresh it.
pub struct Jwks {
    url: String,
    client: reqwest::Client,
    keys: RwLock<HashMap<String, SigningKey>>,
    /// When the last fetch started; `None` before the first.
    last_fetch: std::sync::Mutex<Option<Instant>>,
    /// One fetch at a time; callers that wait for it then read its result.
    fetching: tokio::sync::Mutex<()>,
}

impl Jwks {
    /// An empty set for `url`; call [`Jwks::refresh`] (or [`Jwks::start`]) to fill it.
    pub fn new(url: String) -> Arc<Self> {
        Arc::new(Self {
            url,
            client: crate::http::client(),
            keys: RwLock::default(),
            last_fetch: std::sync::Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// Fetches now and then every `every`, in the background of the current runtime (none:
    /// the first token with a `kid` triggers the first fetch).
    pub fn start(self: &Arc<Self>, every: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(self);
        runtime.spawn(async move {
            loop {
                let Some(jwks) = weak.upgrade() else { return };
                if let Err(error) = jwks.fetch().await {
                    tracing::warn!(url = %jwks.url, %error, "JWKS refresh failed; keeping the known keys");
                }
                drop(jwks);
                tokio::time::sleep(every).await;
            }
        });
    }

    /// The key named `kid`, if the set has it.
    pub fn key(&self, kid: &str) -> Option<SigningKey> {
        self.keys.read().ok()?.get(kid).cloned()
    }

    /// Fetches again unless a fetch started less than [`MIN_REFRESH`] ago; waits for a fetch
    /// in flight instead of starting a second one.
    pub async fn refresh(&self) {
        let _one_at_a_time = self.fetching.lock().await;
        let recent = self
            .last_fetch
            .lock()
            .ok()
            .and_then(|last| *last)
            .is_some_and(|at| at.elapsed() < MIN_REFRESH);
        if recent {
            return;
        }
        if let Err(error) = self.fetch_locked().await {
            tracing::warn!(url = %self.url, %error, "JWKS refresh failed; keeping the known keys");
        }
    }

    /// [`Jwks::refresh`] in the background (for callers that cannot wait).
    pub fn refresh_soon(self: &Arc<Self>) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let jwks = Arc::clone(self);
            runtime.spawn(async move { jwks.refresh().await });
        }
    }

    async fn fetch(&self) -> Result<usize, String> {
        let _one_at_a_time = self.fetching.lock().await;
        self.fetch_locked().await
    }

    async fn fetch_locked(&self) -> Result<usize, String> {
        if let Ok(mut last) = self.last_fetch.lock() {
            *last = Some(Instant::now());
        }
        let response = self
            .client
            .get(&self.url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let set: JwkSet = response.json().await.map_err(|e| e.to_string())?;
        let keys = usable_keys(&set);
        if keys.is_empty() {
            return Err("the set holds no usable signing key".into());
        }
        let count = keys.len();
        if let Ok(mut known) = self.keys.write() {
            *known = keys;
        }
        tracing::info!(url = %self.url, keys = count, "JWKS refreshed");
        Ok(count)
    }
}

/// The asymmetric signing keys of a set that carry a `kid`, each with the one algorithm it
/// may verify (so a token cannot pick another algorithm for the same key).
fn usable_keys(set: &JwkSet) -> HashMap<String, SigningKey> {
    set.keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let algorithm = algorithm_of(jwk)?;
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some((
                kid,
                SigningKey {
                    algorithm,
                    key: Arc::new(key),
                },
            ))
        })
        .collect()
}

/// The key's algorithm: its `alg` when given, else what its type implies (RSA → RS256,
/// P-256 → ES256, P-384 → ES384). Symmetric and unknown keys have none.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    let accepted = |algorithm: Algorithm| {
        matches!(
            algorithm,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
                | Algorithm::ES256
                | Algorithm::ES384
        )
        .then_some(algorithm)
    };
    if let Some(declared) = jwk.common.key_algorithm {
        let algorithm = match declared {
            KeyAlgorithm::RS256 => Algorithm::RS256,
            KeyAlgorithm::RS384 => Algorithm::RS384,
            KeyAlgorithm::RS512 => Algorithm::RS512,
            KeyAlgorithm::PS256 => Algorithm::PS256,
            KeyAlgorithm::PS384 => Algorithm::PS384,
            KeyAlgorithm::PS512 => Algorithm::PS512,
            KeyAlgorithm::ES256 => Algorithm::ES256,
            KeyAlgorithm::ES384 => Algorithm::ES384,
            _ => return None,
        };
        return accepted(algorithm);
    }
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Some(Algorithm::ES256),
            EllipticCurve::P384 => Some(Algorithm::ES384),
            _ => None,
        },
        _ => None,
    }
}
