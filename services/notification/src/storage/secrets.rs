//! Provider secrets encrypted at rest: AES-256-GCM (ring, already linked for TLS) under a key
//! from the environment (`MAITRE_SECRET_KEY`, a Kubernetes Secret in production), with a random
//! 96-bit nonce per sealing and the account's identity (chain, channel, kind) as associated
//! data, so a ciphertext copied to another chain's row does not open.
//!
//! Rotation: each ciphertext is stored beside the id of the key that sealed it (the first eight
//! hex digits of the key's SHA-256). Keys named in `MAITRE_SECRET_KEYS_OLD` still open what they
//! sealed; the service re-seals such rows under the current key at start
//! (`storage::provider_accounts::reseal`), after which the old key can be dropped.

use std::collections::HashMap;

use base64::Engine;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

/// The current key: standard base64 of 32 random bytes (`openssl rand -base64 32`).
pub const SECRET_KEY_VARIABLE: &str = "MAITRE_SECRET_KEY";
/// Earlier keys, comma-separated, still accepted for opening (rotation).
pub const OLD_SECRET_KEYS_VARIABLE: &str = "MAITRE_SECRET_KEYS_OLD";

/// Why secrets cannot be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("{variable}: {reason}")]
    BadKey {
        variable: &'static str,
        reason: String,
    },
    #[error("MAITRE_SECRET_KEY is not set: provider secrets cannot be stored or used")]
    NoKey,
    #[error("no key with id `{0}` (set it in MAITRE_SECRET_KEYS_OLD)")]
    UnknownKey(String),
    #[error("the secrets do not open with key `{0}` (wrong key or altered row)")]
    Corrupt(String),
}

struct Key {
    id: String,
    key: LessSafeKey,
}

/// The keys secrets are sealed and opened with.
#[derive(Default)]
pub struct Keyring {
    current: Option<Key>,
    old: HashMap<String, LessSafeKey>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current_id())
            .field("old", &self.old.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn parse_key(variable: &'static str, encoded: &str) -> Result<Key, SecretError> {
    let bad = |reason: String| SecretError::BadKey { variable, reason };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| bad(format!("not base64: {e}")))?;
    if bytes.len() != 32 {
        return Err(bad(format!("{} bytes; 32 are needed", bytes.len())));
    }
    let id = hex::encode(&Sha256::digest(&bytes)[..4]);
    let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| bad("rejected".into()))?;
    Ok(Key {
        id,
        key: LessSafeKey::new(key),
    })
}

impl Keyring {
    /// The keyring of `current` (empty: none; secrets cannot be stored) and the comma-separated
    /// `old` keys.
    pub fn new(current: &str, old: &str) -> Result<Self, SecretError> {
        let current = if current.trim().is_empty() {
            None
        } else {
            Some(parse_key(SECRET_KEY_VARIABLE, current)?)
        };
        let mut keyring = Self {
            current,
            old: HashMap::new(),
        };
        for encoded in old.split(',').filter(|s| !s.trim().is_empty()) {
            let key = parse_key(OLD_SECRET_KEYS_VARIABLE, encoded)?;
            keyring.old.insert(key.id, key.key);
        }
        Ok(keyring)
    }

    /// The current key's id, if a key is set.
    pub fn current_id(&self) -> Option<&str> {
        self.current.as_ref().map(|k| k.id.as_str())
    }

    /// Seals `plaintext` under the current key: `(key id, base64 of nonce ‖ ciphertext ‖ tag)`.
    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> Result<(String, String), SecretError> {
        let key = self.current.as_ref().ok_or(SecretError::NoKey)?;
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SecretError::Corrupt("no randomness for a nonce".into()))?;
        let mut sealed = plaintext.to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| SecretError::Corrupt(key.id.clone()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok((
            key.id.clone(),
            base64::engine::general_purpose::STANDARD.encode(out),
        ))
    }

    /// Opens what [`Keyring::seal`] sealed under key `key_id` with the same `aad`.
    pub fn open(&self, key_id: &str, aad: &str, sealed: &str) -> Result<Vec<u8>, SecretError> {
        let key = match &self.current {
            Some(current) if current.id == key_id => &current.key,
            _ => self
                .old
                .get(key_id)
                .ok_or_else(|| SecretError::UnknownKey(key_id.to_owned()))?,
        };
        let corrupt = || SecretError::Corrupt(key_id.to_owned());
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| corrupt())?;
        if bytes.len() < NONCE_LEN {
            return Err(corrupt());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| corrupt())?;
        let mut buffer = ciphertext.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buffer)
            .map_err(|_| corrupt())?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const KEY_B: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_account() {
        let ring = Keyring::new(KEY_A, "").expect("keyring");
        let (id, sealed) = ring
            .seal("chain-1/sms/tencent_sms", b"s3cret")
            .expect("seal");
        assert_eq!(Some(id.as_str()), ring.current_id());
        assert!(!sealed.contains("s3cret"));
        assert_eq!(
            ring.open(&id, "chain-1/sms/tencent_sms", &sealed),
            Ok(b"s3cret".to_vec())
        );
        // Another chain's row: the associated data differs.
        assert!(matches!(
            ring.open(&id, "chain-2/sms/tencent_sms", &sealed),
            Err(SecretError::Corrupt(_))
        ));
        // Two sealings of one secret differ (random nonces).
        assert_ne!(
            ring.seal("a", b"x").expect("seal").1,
            ring.seal("a", b"x").expect("seal").1
        );
    }

    #[test]
    fn a_rotated_keyring_opens_the_old_key_and_seals_with_the_new() {
        let before = Keyring::new(KEY_A, "").expect("keyring");
        let (old_id, sealed) = before.seal("aad", b"s3cret").expect("seal");
        let after = Keyring::new(KEY_B, KEY_A).expect("keyring");
        assert_ne!(after.current_id(), Some(old_id.as_str()));
        assert_eq!(after.open(&old_id, "aad", &sealed), Ok(b"s3cret".to_vec()));
        let without_old = Keyring::new(KEY_B, "").expect("keyring");
        assert_eq!(
            without_old.open(&old_id, "aad", &sealed),
            Err(SecretError::UnknownKey(old_id))
        );
    }

    #[test]
    fn bad_keys_are_named() {
        assert!(matches!(
            Keyring::new("c2hvcnQ=", ""),
            Err(SecretError::BadKey {
                variable: SECRET_KEY_VARIABLE,
                ..
            })
        ));
        assert!(matches!(
            Keyring::new(KEY_A, "not base64!"),
            Err(SecretError::BadKey {
                variable: OLD_SECRET_KEYS_VARIABLE,
                ..
            })
        ));
        assert_eq!(
            Keyring::new("", "").expect("keyring").seal("a", b"x"),
            Err(SecretError::NoKey)
        );
    }
}
