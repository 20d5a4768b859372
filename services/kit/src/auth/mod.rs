//! Verified identity of every caller: JWT in, `Caller` out.
//!
//! Tokens are HS256 (development secret, or a configured one), RS256/ES256 with a configured
//! public key, or signed by the chain's identity provider with a key of its JWKS (chosen by
//! `kid`, rotated without a restart; `iss` and `aud` checked when configured; [`jwks`]). The caller's chain and stores always come from the token, never from a request
//! body. Services verify the same token the gateway verified, so scope is enforced twice.
//! Internal callers carry role `service`; only they may use the all-chains scope `*`
//! (consumers of `Watch` streams), and a service acting for one chain mints a token for it.

pub mod api_key;
pub mod jwks;
mod verified;

use std::{fmt, path::Path, sync::Arc};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use tonic::{Request, Status, metadata::MetadataValue, service::Interceptor};

use crate::config::{Config, Environment};

/// The built-in development signing key. `maitre` refuses to start in production with it.
pub const DEVELOPMENT_SECRET: &str = "maitre-development-signing-key-not-for-production";

/// The chain value of an all-chains service identity.
pub const ALL_CHAINS: &str = "*";

/// Staff roles (see ARCHITECTURE.md, Domain).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The whole chain.
    HqAdmin,
    /// The stores in the token.
    StoreManager,
    /// Their own customers; read their stores.
    CustomerManager,
    /// Records bookings and visits; masked contact data; no export.
    FrontDesk,
    /// Internal Maitre services.
    Service,
}

impl Role {
    /// The claim value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HqAdmin => "hq_admin",
            Self::StoreManager => "store_manager",
            Self::CustomerManager => "customer_manager",
            Self::FrontDesk => "front_desk",
            Self::Service => "service",
        }
    }

    /// Roles that see every store of their chain.
    pub fn is_chain_wide(self) -> bool {
        matches!(self, Self::HqAdmin | Self::Service)
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.into()))
            .map_err(|_| format!("unknown role `{s}` (hq_admin, store_manager, customer_manager, front_desk, service)"))
    }
}

/// The claims Maitre puts in a token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Staff id (for managers, their manager id).
    pub sub: String,
    /// The chain (tenant); `*` only for all-chains service identities.
    pub chain: String,
    /// The role.
    pub role: Role,
    /// Stores in scope (store managers, customer managers, front desk).
    #[serde(default)]
    pub stores: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    #[serde(default)]
    pub iat: u64,
}

/// The verified caller of a request, available to every handler.
#[derive(Clone, PartialEq, Eq)]
pub struct Caller {
    /// The chain; `*` for all-chains service identities.
    pub chain_id: String,
    /// Staff id.
    pub staff_id: String,
    /// Role.
    pub role: Role,
    /// Stores in scope (ignored for chain-wide roles).
    pub stores: Vec<String>,
    /// The bearer token, to forward on calls made for this caller.
    pub token: String,
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never log the token.
        f.debug_struct("Caller")
            .field("chain_id", &self.chain_id)
            .field("staff_id", &self.staff_id)
            .field("role", &self.role)
            .field("stores", &self.stores)
            .finish()
    }
}

impl Caller {
    /// The caller put in the request by the auth interceptor.
    pub fn from_request<T>(request: &Request<T>) -> Result<Caller, Status> {
        request
            .extensions()
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated("missing bearer token"))
    }

    /// The one chain this call acts on; all-chains identities may not make chain-scoped calls.
    pub fn chain(&self) -> Result<&str, Status> {
        if self.chain_id == ALL_CHAINS {
            return Err(Status::permission_denied(
                "this call needs a token scoped to one chain",
            ));
        }
        Ok(&self.chain_id)
    }

    /// True for an all-chains service identity.
    pub fn is_all_chains(&self) -> bool {
        self.role == Role::Service && self.chain_id == ALL_CHAINS
    }

    /// Refuses callers whose role is not in `allowed`.
    pub fn require_role(&self, allowed: &[Role]) -> Result<(), Status> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "role {} may not do this",
                self.role.as_str()
            )))
        }
    }

    /// True when the store is in the caller's scope.
    pub fn can_access_store(&self, store_id: &str) -> bool {
        self.role.is_chain_wide() || self.stores.iter().any(|s| s == store_id)
    }

    /// Refuses callers without the store in scope.
    pub fn require_store(&self, store_id: &str) -> Result<(), Status> {
        if self.can_access_store(store_id) {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "store `{store_id}` is outside the caller's scope"
            )))
        }
    }

    /// The one rule for writes aimed at one guest (a profile change, a message, a follow-up;
    /// ARCHITECTURE "Domain"): chain-wide roles act on every guest of the chain, a customer
    /// manager only on the guests they own (reading their store is not acting on it), store
    /// managers and the front desk on guests of one of their stores.
    pub fn may_act_on_guest<'a>(
        &self,
        owner_manager_id: &str,
        guest_stores: impl IntoIterator<Item = &'a str>,
    ) -> bool {
        match self.role {
            Role::HqAdmin | Role::Service => true,
            Role::CustomerManager => {
                !owner_manager_id.is_empty() && owner_manager_id == self.staff_id
            }
            Role::StoreManager | Role::FrontDesk => {
                guest_stores.into_iter().any(|s| self.can_access_store(s))
            }
        }
    }

    /// Refuses a write aimed at `customer_id` unless [`Caller::may_act_on_guest`].
    pub fn require_guest_writer<'a>(
        &self,
        customer_id: &str,
        owner_manager_id: &str,
        guest_stores: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), Status> {
        if self.may_act_on_guest(owner_manager_id, guest_stores) {
            return Ok(());
        }
        Err(Status::permission_denied(match self.role {
            Role::CustomerManager => format!(
                "customer `{customer_id}` is not the caller's own customer: a customer manager \
                 acts only on the guests they own"
            ),
            _ => format!("customer `{customer_id}` has no store in the caller's scope"),
        }))
    }
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A key file could not be read or parsed.
    #[error("JWT key {path}: {reason}")]
    Key { path: String, reason: String },
    /// Production with the development key.
    #[error(
        "refusing to start in production with the development signing key: set MAITRE_JWT_PUBLIC_KEY_FILE (RS256) or a MAITRE_JWT_SECRET of your own"
    )]
    DevelopmentKeyInProduction,
    /// Signing failed.
    #[error("cannot sign token: {0}")]
    Sign(String),
    /// No key to sign with.
    #[error("no signing key configured (MAITRE_JWT_SECRET or MAITRE_JWT_PRIVATE_KEY_FILE)")]
    NoSigningKey,
}

/// Checks tokens against the configured keys.
#[derive(Clone)]
pub struct Verifier {
    keys: Arc<Vec<(Algorithm, DecodingKey)>>,
    /// The identity provider's keys, for tokens that name a `kid`.
    jwks: Option<Arc<jwks::Jwks>>,
    /// `iss` / `aud` required of tokens verified by the JWKS keys.
    issuer: Option<String>,
    audience: Option<String>,
    verified: Arc<verified::VerifiedTokens>,
}

/// A token naming a key the set does not have (yet): retryable, since the set is being
/// fetched again.
fn unknown_key(kid: &str) -> Status {
    Status::unavailable(format!(
        "token signing key `{kid}` is not known yet; the key set is being refreshed, retry shortly"
    ))
}

/// Seconds of clock skew accepted on `exp`.
const LEEWAY_S: u64 = 30;

/// The most stores a token may name. Every call carries the token in a header, so its scope
/// is bounded: 1,000 stores of UUID ids make a token of about 52 KB.
pub const MAX_TOKEN_STORES: usize = 1_000;

/// The longest token accepted, in bytes; it fits the header list services accept
/// (`server::MAX_HEADER_LIST_BYTES`) with room for the other headers of a call.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// The refusal of a validly formed token beyond the bounds above: INVALID_ARGUMENT naming
/// `authorization` and the limit (not UNAUTHENTICATED: the same token will never pass).
fn beyond_bounds(message: String) -> Status {
    crate::error::invalid_argument("authorization", message)
}

impl Verifier {
    /// Builds the verifier from configuration: RS256 public key and/or HS256 secret
    /// (the development secret when nothing is configured, outside production).
    pub fn from_config(config: &Config) -> Result<Self, AuthError> {
        let mut keys = Vec::new();
        if let Some(path) = &config.jwt_public_key_file {
            let pem = read_key(path)?;
            // An RSA key verifies RS256, a P-256 key ES256.
            let key = match DecodingKey::from_rsa_pem(&pem) {
                Ok(key) => (Algorithm::RS256, key),
                Err(rsa) => match DecodingKey::from_ec_pem(&pem) {
                    Ok(key) => (Algorithm::ES256, key),
                    Err(_) => return Err(key_error(path, rsa)),
                },
            };
            keys.push(key);
        }
        let jwks = config.jwt_jwks_url.clone().map(|url| {
            let jwks = jwks::Jwks::new(url);
            jwks.start(config.jwt_jwks_refresh);
            jwks
        });
        match (&config.jwt_secret, config.environment) {
            (Some(secret), Environment::Production) if secret == DEVELOPMENT_SECRET => {
                return Err(AuthError::DevelopmentKeyInProduction);
            }
            (Some(secret), _) => keys.push((
                Algorithm::HS256,
                DecodingKey::from_secret(secret.as_bytes()),
            )),
            (None, Environment::Development) if keys.is_empty() && jwks.is_none() => {
                keys.push((
                    Algorithm::HS256,
                    DecodingKey::from_secret(DEVELOPMENT_SECRET.as_bytes()),
                ));
            }
            (None, Environment::Production) if keys.is_empty() && jwks.is_none() => {
                return Err(AuthError::DevelopmentKeyInProduction);
            }
            (None, _) => {}
        }
        Ok(Self {
            keys: Arc::new(keys),
            jwks,
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            verified: Arc::default(),
        })
    }

    /// A verifier for one HS256 secret (tests, tools).
    pub fn hs256(secret: &str) -> Self {
        Self {
            keys: Arc::new(vec![(
                Algorithm::HS256,
                DecodingKey::from_secret(secret.as_bytes()),
            )]),
            jwks: None,
            issuer: None,
            audience: None,
            verified: Arc::default(),
        }
    }

    /// A verifier for the identity provider's key set at `url` (tests, tools), requiring
    /// `issuer` and `audience` when given.
    pub fn jwks(url: &str, issuer: Option<&str>, audience: Option<&str>) -> Self {
        Self {
            keys: Arc::default(),
            jwks: Some(jwks::Jwks::new(url.to_owned())),
            issuer: issuer.map(str::to_owned),
            audience: audience.map(str::to_owned),
            verified: Arc::default(),
        }
    }

    /// [`Verifier::verify`], but a token naming a key the set does not have waits for the
    /// set to be fetched again (at most every [`jwks::MIN_REFRESH`]) before it is refused:
    /// the edge uses this, so the first token signed with a rotated key passes.
    pub async fn verify_fresh(&self, token: &str) -> Result<Caller, Status> {
        match self.verify(token) {
            Err(status) if status.code() == tonic::Code::Unavailable => {
                if let Some(jwks) = &self.jwks {
                    jwks.refresh().await;
                }
                self.verify(token).map_err(|status| {
                    if status.code() == tonic::Code::Unavailable {
                        Status::unauthenticated(
                            "token signed by a key the identity provider does not publish",
                        )
                    } else {
                        status
                    }
                })
            }
            other => other,
        }
    }

    /// Verifies a bearer token: signature with an accepted algorithm, expiry, claims.
    /// A token verified before (by this verifier) and not yet expired is not checked again.
    /// A signed token naming more than [`MAX_TOKEN_STORES`] stores, or longer than
    /// [`MAX_TOKEN_BYTES`], is refused with INVALID_ARGUMENT naming the limit.
    pub fn verify(&self, token: &str) -> Result<Caller, Status> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(beyond_bounds(format!(
                "the token is {} bytes; at most {MAX_TOKEN_BYTES} are accepted",
                token.len()
            )));
        }
        if let Some(caller) = self.verified.get(token) {
            return Ok(caller);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Status::unauthenticated("malformed token"))?;
        let mut validation;
        let signing_key;
        let key = match (&self.jwks, header.kid.as_deref()) {
            // The identity provider's token: its key by id, and only that key's algorithm.
            (Some(jwks), Some(kid)) => {
                let Some(key) = jwks.key(kid) else {
                    jwks.refresh_soon();
                    return Err(unknown_key(kid));
                };
                if key.algorithm != header.alg {
                    return Err(Status::unauthenticated(
                        "token algorithm does not match its signing key",
                    ));
                }
                validation = Validation::new(key.algorithm);
                if let Some(issuer) = &self.issuer {
                    validation.set_issuer(&[issuer]);
                    validation.required_spec_claims.insert("iss".into());
                }
                match &self.audience {
                    Some(audience) => {
                        validation.set_audience(&[audience]);
                        validation.required_spec_claims.insert("aud".into());
                    }
                    None => validation.validate_aud = false,
                }
                signing_key = key;
                signing_key.key.as_ref()
            }
            _ => {
                let (alg, key) = self
                    .keys
                    .iter()
                    .find(|(alg, _)| *alg == header.alg)
                    .ok_or_else(|| Status::unauthenticated("token algorithm not accepted"))?;
                validation = Validation::new(*alg);
                key
            }
        };
        validation.leeway = LEEWAY_S;
        validation.required_spec_claims.insert("exp".into());
        validation.required_spec_claims.insert("sub".into());
        let data = decode::<Claims>(token, key, &validation)
            .map_err(|e| Status::unauthenticated(format!("invalid token: {e}")))?;
        let claims = data.claims;
        if claims.stores.len() > MAX_TOKEN_STORES {
            return Err(beyond_bounds(format!(
                "the token names {} stores; at most {MAX_TOKEN_STORES} are accepted",
                claims.stores.len()
            )));
        }
        if claims.chain.is_empty() || (claims.chain == ALL_CHAINS && claims.role != Role::Service) {
            return Err(Status::unauthenticated("invalid token: bad chain claim"));
        }
        let caller = Caller {
            chain_id: claims.chain,
            staff_id: claims.sub,
            role: claims.role,
            stores: claims.stores,
            token: token.to_owned(),
        };
        self.verified
            .put(&caller, claims.exp.saturating_add(LEEWAY_S));
        Ok(caller)
    }
}

/// Puts the verified `Caller` into every request's extensions; refuses the rest.
#[derive(Clone)]
pub struct AuthInterceptor {
    verifier: Verifier,
}

impl AuthInterceptor {
    /// An interceptor verifying with `verifier`.
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }
}

impl Interceptor for AuthInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
        let value = header
            .to_str()
            .map_err(|_| Status::unauthenticated("malformed authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| Status::unauthenticated("authorization must be `Bearer <token>`"))?;
        let caller = self.verifier.verify(token.trim())?;
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

/// Mints tokens: `maitre token`, and services' own identity for internal calls.
#[derive(Clone)]
pub struct Minter {
    algorithm: Algorithm,
    key: Arc<EncodingKey>,
}

impl Minter {
    /// From configuration: RS256 private key if set, else the HS256 secret (or the
    /// development secret outside production).
    pub fn from_config(config: &Config) -> Result<Self, AuthError> {
        if let Some(path) = &config.jwt_private_key_file {
            let pem = read_key(path)?;
            let key = EncodingKey::from_rsa_pem(&pem).map_err(|e| key_error(path, e))?;
            return Ok(Self {
                algorithm: Algorithm::RS256,
                key: Arc::new(key),
            });
        }
        match (&config.jwt_secret, config.environment) {
            (Some(secret), Environment::Production) if secret == DEVELOPMENT_SECRET => {
                Err(AuthError::DevelopmentKeyInProduction)
            }
            (Some(secret), _) => Ok(Self::hs256(secret)),
            (None, Environment::Development) => Ok(Self::hs256(DEVELOPMENT_SECRET)),
            (None, Environment::Production) => Err(AuthError::NoSigningKey),
        }
    }

    /// A minter for one HS256 secret.
    pub fn hs256(secret: &str) -> Self {
        Self {
            algorithm: Algorithm::HS256,
            key: Arc::new(EncodingKey::from_secret(secret.as_bytes())),
        }
    }

    /// Signs a token for the given identity, valid for `ttl_secs`.
    pub fn mint(
        &self,
        staff_id: &str,
        chain: &str,
        role: Role,
        stores: &[String],
        ttl_secs: u64,
    ) -> Result<String, AuthError> {
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let claims = Claims {
            sub: staff_id.into(),
            chain: chain.into(),
            role,
            stores: stores.to_vec(),
            exp: now + ttl_secs,
            iat: now,
        };
        encode(&Header::new(self.algorithm), &claims, &self.key)
            .map_err(|e| AuthError::Sign(e.to_string()))
    }

    /// A short-lived `service` identity of `service_name` for one chain (or `*`).
    pub fn service_token(&self, service_name: &str, chain: &str) -> Result<String, AuthError> {
        self.mint(
            &format!("service:{service_name}"),
            chain,
            Role::Service,
            &[],
            3600,
        )
    }
}

/// Adds `authorization: Bearer <token>` to an outgoing request.
pub fn attach_token<T>(request: &mut Request<T>, token: &str) {
    if let Ok(value) = MetadataValue::try_from(format!("Bearer {token}")) {
        request.metadata_mut().insert("authorization", value);
    }
}

fn read_key(path: &Path) -> Result<Vec<u8>, AuthError> {
    std::fs::read(path).map_err(|e| key_error(path, e))
}

fn key_error(path: &Path, e: impl fmt::Display) -> AuthError {
    AuthError::Key {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minter() -> Minter {
        Minter::hs256("secret-a")
    }

    fn intercept(token: Option<&str>) -> Result<Caller, Status> {
        let mut request = Request::new(());
        if let Some(t) = token {
            attach_token(&mut request, t);
        }
        let mut interceptor = AuthInterceptor::new(Verifier::hs256("secret-a"));
        let request = interceptor.call(request)?;
        Caller::from_request(&request)
    }

    #[test]
    fn a_valid_token_yields_the_caller() {
        let token = minter()
            .mint("wang", "chain-1", Role::StoreManager, &["s1".into()], 60)
            .unwrap();
        let caller = intercept(Some(&token)).unwrap();
        assert_eq!(caller.chain().unwrap(), "chain-1");
        assert_eq!(caller.role, Role::StoreManager);
        assert!(caller.can_access_store("s1"));
        assert!(caller.require_store("s2").is_err());
        assert!(caller.require_role(&[Role::HqAdmin]).is_err());
    }

    #[test]
    fn missing_forged_expired_and_wrong_algorithm_tokens_are_unauthenticated() {
        assert_eq!(
            intercept(None).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        let forged = Minter::hs256("other")
            .mint("x", "c", Role::HqAdmin, &[], 60)
            .unwrap();
        assert_eq!(
            intercept(Some(&forged)).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        let now = chrono::Utc::now().timestamp() as u64;
        let expired = encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: "x".into(),
                chain: "c".into(),
                role: Role::HqAdmin,
                stores: vec![],
                exp: now - 120,
                iat: now - 200,
            },
            &EncodingKey::from_secret(b"secret-a"),
        )
        .unwrap();
        assert_eq!(
            intercept(Some(&expired)).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        let hs384 = encode(
            &Header::new(Algorithm::HS384),
            &Claims {
                sub: "x".into(),
                chain: "c".into(),
                role: Role::HqAdmin,
                stores: vec![],
                exp: now + 60,
                iat: now,
            },
            &EncodingKey::from_secret(b"secret-a"),
        )
        .unwrap();
        assert_eq!(
            intercept(Some(&hs384)).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            intercept(Some("not.a.jwt")).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
    }

    #[test]
    fn a_customer_manager_acts_only_on_own_guests_a_store_manager_on_their_stores() {
        let caller = |role: Role, staff: &str| Caller {
            chain_id: "c".into(),
            staff_id: staff.into(),
            role,
            stores: vec!["s1".into()],
            token: String::new(),
        };
        let wang = caller(Role::CustomerManager, "wang");
        assert!(wang.may_act_on_guest("wang", ["s2"]));
        // Reading their store is not acting on another manager's guest.
        assert!(!wang.may_act_on_guest("li", ["s1"]));
        assert!(!wang.may_act_on_guest("", ["s1"]));
        assert_eq!(
            wang.require_guest_writer("g1", "li", ["s1"])
                .unwrap_err()
                .code(),
            tonic::Code::PermissionDenied
        );
        let store = caller(Role::StoreManager, "zhao");
        assert!(store.may_act_on_guest("li", ["s2", "s1"]));
        assert!(!store.may_act_on_guest("zhao", ["s2"]));
        assert!(caller(Role::HqAdmin, "hq").may_act_on_guest("", []));
    }

    #[test]
    fn only_service_identities_may_span_all_chains() {
        let admin_all = minter()
            .mint("x", ALL_CHAINS, Role::HqAdmin, &[], 60)
            .unwrap();
        assert!(intercept(Some(&admin_all)).is_err());
        let service = minter().service_token("tagging", ALL_CHAINS).unwrap();
        let caller = intercept(Some(&service)).unwrap();
        assert!(caller.is_all_chains());
        assert_eq!(
            caller.chain().unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
    }

    #[test]
    fn production_refuses_the_development_key() {
        let production = |pairs: &[(&str, &str)]| {
            let map: std::collections::HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Config::from_lookup(crate::config::ServiceName::Gateway, move |k| {
                map.get(k).cloned()
            })
            .unwrap()
        };
        let c = production(&[("MAITRE_ENV", "production")]);
        assert!(matches!(
            Verifier::from_config(&c),
            Err(AuthError::DevelopmentKeyInProduction)
        ));
        let c = production(&[
            ("MAITRE_ENV", "production"),
            ("MAITRE_JWT_SECRET", DEVELOPMENT_SECRET),
        ]);
        assert!(matches!(
            Verifier::from_config(&c),
            Err(AuthError::DevelopmentKeyInProduction)
        ));
        let c = production(&[
            ("MAITRE_ENV", "production"),
            ("MAITRE_JWT_SECRET", "a-real-secret"),
        ]);
        assert!(Verifier::from_config(&c).is_ok());
    }

    #[test]
    fn tokens_are_accepted_up_to_the_stated_bounds() {
        let stores = |n: usize| -> Vec<String> {
            (0..n)
                .map(|i| format!("{:08x}-0000-4000-8000-{i:012x}", i))
                .collect()
        };
        let largest = minter()
            .mint("m", "c", Role::StoreManager, &stores(MAX_TOKEN_STORES), 60)
            .unwrap();
        assert!(largest.len() <= MAX_TOKEN_BYTES, "{}", largest.len());
        let caller = Verifier::hs256("secret-a").verify(&largest).unwrap();
        assert_eq!(caller.stores.len(), MAX_TOKEN_STORES);

        let too_many = minter()
            .mint(
                "m",
                "c",
                Role::StoreManager,
                &stores(MAX_TOKEN_STORES + 1),
                60,
            )
            .unwrap();
        let refused = Verifier::hs256("secret-a").verify(&too_many).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert!(refused.message().contains("1000"), "{}", refused.message());
        assert_eq!(
            crate::error::field_of(&refused).as_deref(),
            Some("authorization")
        );

        let huge = "x".repeat(MAX_TOKEN_BYTES + 1);
        let refused = Verifier::hs256("secret-a").verify(&huge).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn the_token_never_appears_in_debug_output() {
        let token = minter()
            .mint("wang", "chain-1", Role::HqAdmin, &[], 60)
            .unwrap();
        let caller = Verifier::hs256("secret-a").verify(&token).unwrap();
        assert!(!format!("{caller:?}").contains(&token));
    }
}
