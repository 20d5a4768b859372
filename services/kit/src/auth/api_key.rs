//! API keys of integrations (a POS, a mini-program backend): the secret's format, its
//! stored hash and the constant-time check. Profile stores the keys and resolves them for
//! the gateway (ARCHITECTURE "Cross-cutting"); this module owns only the format.
//!
//! A secret is `mtr_<key id>_<256 random bits, base64url>`: the key id finds the stored
//! row, and the whole secret is checked against the row's SHA-256 in constant time. A fast
//! hash suffices for 256 random bits (there is no dictionary to guess from); only the hash
//! is stored, so neither a database dump nor the API can give a usable key back.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Role;

/// What every API key secret starts with (a JWT never does: it starts with `eyJ`).
pub const PREFIX: &str = "mtr_";

/// Random bytes of a secret.
const RANDOM_BYTES: usize = 32;

/// Characters of a key id (a UUID v7 in simple form).
const KEY_ID_CHARS: usize = 32;

/// A key just generated: its id, the secret (shown once) and the hash to store.
pub struct NewApiKey {
    /// The key id.
    pub key_id: String,
    /// The secret, for the one answer that shows it.
    pub secret: String,
    /// SHA-256 of the secret, what is stored.
    pub hash: Vec<u8>,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never log the secret.
        f.debug_struct("NewApiKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A fresh key with a random secret.
pub fn generate() -> NewApiKey {
    let key_id = uuid::Uuid::now_v7().simple().to_string();
    let random: [u8; RANDOM_BYTES] = rand::random();
    let secret = format!(
        "{PREFIX}{key_id}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
    );
    let hash = hash(&secret);
    NewApiKey {
        key_id,
        secret,
        hash,
    }
}

/// True when a bearer credential is meant as an API key rather than a JWT.
pub fn is_api_key(credential: &str) -> bool {
    credential.starts_with(PREFIX)
}

/// The key id of a well-formed secret; `None` for anything else.
pub fn key_id_of(secret: &str) -> Option<&str> {
    let (key_id, random) = secret.strip_prefix(PREFIX)?.split_once('_')?;
    let well_formed = key_id.len() == KEY_ID_CHARS
        && key_id.bytes().all(|b| b.is_ascii_hexdigit())
        && base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(random)
            .is_ok_and(|bytes| bytes.len() == RANDOM_BYTES);
    well_formed.then_some(key_id)
}

/// SHA-256 of a secret.
pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// True when `secret` hashes to `stored_hash`, compared in constant time.
pub fn matches(secret: &str, stored_hash: &[u8]) -> bool {
    hash(secret).ct_eq(stored_hash).into()
}

/// The staff id a key's calls carry, so logs and audit records name the key.
pub fn subject(key_id: &str) -> String {
    format!("api_key:{key_id}")
}

/// The roles a key may act as: not `service` (an integration is not Maitre itself) and not
/// `customer_manager` (whose scope is the guests one person owns).
pub fn is_key_role(role: Role) -> bool {
    matches!(role, Role::HqAdmin | Role::StoreManager | Role::FrontDesk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_parses_and_matches_only_its_hash() {
        let key = generate();
        assert!(is_api_key(&key.secret));
        assert_eq!(key_id_of(&key.secret), Some(key.key_id.as_str()));
        assert!(matches(&key.secret, &key.hash));
        let other = generate();
        assert_ne!(key.secret, other.secret);
        assert!(!matches(&other.secret, &key.hash));
        assert!(!matches(&key.secret, &key.hash[..31]));
        assert!(!format!("{key:?}").contains(&key.secret));
    }

    #[test]
    fn malformed_secrets_have_no_key_id() {
        let key = generate();
        let (head, random) = key.secret.rsplit_once('_').unwrap();
        for bad in [
            "",
            "mtr_",
            "eyJhbGciOi.x.y",
            &key.secret[1..],
            &format!("{head}_"),
            &format!("{head}_{}", &random[1..]),
            &format!("{head}_{random}!"),
            &format!("mtr_{}_{random}", "g".repeat(32)),
        ] {
            assert_eq!(key_id_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn keys_act_as_staff_roles_only() {
        assert!(is_key_role(Role::HqAdmin) && is_key_role(Role::FrontDesk));
        assert!(!is_key_role(Role::Service) && !is_key_role(Role::CustomerManager));
    }
}
