//! The HMAC keyring: every key a stored keyed hash may have been made with, and which of them makes
//! new ones. Each hash carries the id of its key ([`KeyedHash::key_id`]), so the secret can be
//! rotated: a new key is added, then made current (new hashes use it), stored hashes are re-hashed,
//! and only then is the old key retired (`docs/operations.md`, "Rotating the HMAC key").
//!
//! As a secret (Secrets Manager's value, the local keyring file's `hmac_keyring`), a keyring is
//! `{"current":"k2","keys":{"k1":"<base64>","k2":"<base64>"}}`, each key at least 32 bytes. A value
//! that is not a JSON object (the plain string a stack is created with) is a keyring of one key, that
//! string's bytes, whose id is [`HmacKeyId::LEGACY`]: hashes stored before keyrings existed carry no
//! id and are read as made with it, and hashes made with it are still stored without one, so a stack
//! that never rotates stores exactly what it always did.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{KeyServiceError, KeyedHash};
use crate::secret::{SecretBytes, SecretString};

/// Where the keyring for keyed hashes comes from: Secrets Manager on AWS (kept for a while by each
/// execution environment), the local keyring file locally.
#[async_trait]
pub trait HmacKeySource: Send + Sync {
    /// The keyring.
    async fn hmac_keyring(&self) -> Result<Arc<HmacKeyring>, KeyServiceError>;
}

/// Where the keyring is kept, for rotating it: read as it is now (no cache) and replaced whole.
#[async_trait]
pub trait HmacKeyringStore: Send + Sync {
    /// The keyring as stored now.
    async fn load(&self) -> Result<HmacKeyring, KeyServiceError>;

    /// Replaces the stored keyring with `keyring`.
    async fn save(&self, keyring: &HmacKeyring) -> Result<(), KeyServiceError>;
}

/// The fewest bytes an HMAC-SHA256 key may have (its output size).
pub const MIN_HMAC_KEY_LEN: usize = 32;

/// The name of one key of the keyring: 1 to 32 ASCII letters, digits, `_` or `-` (it is stored in
/// front of every hash made with the key, and in DynamoDB sort keys). Not secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HmacKeyId(String);

impl HmacKeyId {
    /// The id of the key of a plain-string secret, which hashes stored with no id were made with.
    pub const LEGACY: &'static str = "legacy";

    /// Accepts 1 to 32 ASCII letters, digits, `_` or `-`.
    pub fn parse(raw: &str) -> Option<Self> {
        ((1..=32).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
            .then(|| Self(raw.to_owned()))
    }

    /// The id of the plain-string secret's key.
    pub fn legacy() -> Self {
        Self(Self::LEGACY.to_owned())
    }

    /// Whether hashes made with this key are stored without an id.
    pub fn is_legacy(&self) -> bool {
        self.0 == Self::LEGACY
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HmacKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored hash names a key the keyring no longer holds: it can be neither checked nor matched, only
/// refused (the key was retired before every hash made with it was re-hashed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("hashed under HMAC key `{0}`, which is not in the keyring (retired before its hashes were re-hashed?)")]
pub struct UnknownHmacKey(pub HmacKeyId);

/// Why a keyring could not be read or changed. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HmacKeyringError {
    /// The value begins like a JSON object but is not a keyring document.
    #[error("the HMAC keyring is not a keyring document ({0})")]
    NotADocument(String),
    /// A key id is not 1 to 32 letters, digits, `_` or `-`.
    #[error("an HMAC key id is not 1 to 32 letters, digits, '_' or '-'")]
    BadId,
    /// A key is not base64.
    #[error("HMAC key `{0}` is not base64")]
    NotBase64(HmacKeyId),
    /// A key is too short.
    #[error("HMAC key `{0}` has fewer than 32 bytes")]
    TooShort(HmacKeyId),
    /// `current` names no key of the keyring.
    #[error("the current HMAC key `{0}` is not in the keyring")]
    NoCurrent(HmacKeyId),
    /// A key by that id is already in the keyring.
    #[error("HMAC key `{0}` is already in the keyring")]
    Exists(HmacKeyId),
    /// No key by that id.
    #[error("no HMAC key `{0}` in the keyring")]
    Unknown(HmacKeyId),
    /// The current key cannot be retired.
    #[error("HMAC key `{0}` is the current key: make another one current first")]
    Current(HmacKeyId),
}

/// A keyring as a secret holds it (see the module documentation). Prints no key.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HmacKeyringDocument {
    /// The id of the key new hashes are made with.
    pub current: String,
    /// Every key, base64, by id.
    pub keys: BTreeMap<String, String>,
}

impl fmt::Debug for HmacKeyringDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKeyringDocument")
            .field("current", &self.current)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Drop for HmacKeyringDocument {
    fn drop(&mut self) {
        for key in self.keys.values_mut() {
            zeroize::Zeroize::zeroize(key);
        }
    }
}

/// The keys of keyed hashes (see the module documentation). Prints its ids, never a key.
#[derive(Clone)]
pub struct HmacKeyring {
    current: HmacKeyId,
    /// The current key (also in `keys`): held apart so that there always is one.
    current_key: SecretBytes,
    keys: BTreeMap<HmacKeyId, SecretBytes>,
}

impl fmt::Debug for HmacKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKeyring")
            .field("current", &self.current)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn checked(id: &HmacKeyId, key: Vec<u8>) -> Result<SecretBytes, HmacKeyringError> {
    let key = SecretBytes::new(key);
    if key.expose().len() < MIN_HMAC_KEY_LEN {
        return Err(HmacKeyringError::TooShort(id.clone()));
    }
    Ok(key)
}

impl HmacKeyring {
    /// A keyring of `keys`, making new hashes with `current`; every key at least 32 bytes.
    pub fn new(
        current: HmacKeyId,
        keys: impl IntoIterator<Item = (HmacKeyId, SecretBytes)>,
    ) -> Result<Self, HmacKeyringError> {
        let mut checked_keys = BTreeMap::new();
        for (id, key) in keys {
            let key = checked(&id, key.expose().clone())?;
            checked_keys.insert(id, key);
        }
        Self::build(current, checked_keys)
    }

    fn build(current: HmacKeyId, keys: BTreeMap<HmacKeyId, SecretBytes>) -> Result<Self, HmacKeyringError> {
        let current_key = keys.get(&current).cloned().ok_or_else(|| HmacKeyringError::NoCurrent(current.clone()))?;
        Ok(Self { current, current_key, keys })
    }

    /// The one-key keyring of a plain-string secret: its bytes, as [`HmacKeyId::LEGACY`].
    pub fn legacy(key: SecretBytes) -> Result<Self, HmacKeyringError> {
        let id = HmacKeyId::legacy();
        Self::new(id.clone(), [(id, key)])
    }

    /// Reads a secret's value: a keyring document if it begins with `{`, else a plain-string key.
    pub fn from_secret(value: &SecretString) -> Result<Self, HmacKeyringError> {
        let text = value.expose();
        if text.trim_start().starts_with('{') {
            // serde_json's messages can quote the input: only its category and position are kept.
            let document: HmacKeyringDocument = serde_json::from_str(text).map_err(|e| {
                HmacKeyringError::NotADocument(format!(
                    "{:?} error at line {} column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                ))
            })?;
            Self::from_document(&document)
        } else {
            Self::legacy(SecretBytes::new(text.as_bytes().to_vec())).map_err(|_| {
                HmacKeyringError::NotADocument("a plain-string HMAC key has fewer than 32 bytes".to_owned())
            })
        }
    }

    /// Reads a keyring document.
    pub fn from_document(document: &HmacKeyringDocument) -> Result<Self, HmacKeyringError> {
        use base64::Engine;
        let current = HmacKeyId::parse(&document.current).ok_or(HmacKeyringError::BadId)?;
        let mut keys = Vec::with_capacity(document.keys.len());
        for (id, key) in &document.keys {
            let id = HmacKeyId::parse(id).ok_or(HmacKeyringError::BadId)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(key)
                .map_err(|_| HmacKeyringError::NotBase64(id.clone()))?;
            keys.push((id, SecretBytes::new(bytes)));
        }
        Self::new(current, keys)
    }

    /// The keyring as a document (a plain-string keyring becomes one too: its key, base64, as
    /// [`HmacKeyId::LEGACY`]).
    pub fn document(&self) -> HmacKeyringDocument {
        use base64::Engine;
        HmacKeyringDocument {
            current: self.current.to_string(),
            keys: self
                .keys
                .iter()
                .map(|(id, key)| (id.to_string(), base64::engine::general_purpose::STANDARD.encode(key.expose())))
                .collect(),
        }
    }

    /// The keyring as a secret's value: its document's JSON.
    pub fn to_secret(&self) -> SecretString {
        // A map of strings always serializes.
        SecretString::new(serde_json::to_string(&self.document()).unwrap_or_default())
    }

    /// The key new hashes are made with.
    pub fn current(&self) -> &HmacKeyId {
        &self.current
    }

    /// Every key id, in order.
    pub fn ids(&self) -> impl Iterator<Item = &HmacKeyId> {
        self.keys.keys()
    }

    /// Whether the keyring holds `id`.
    pub fn holds(&self, id: &HmacKeyId) -> bool {
        self.keys.contains_key(id)
    }

    /// `message`'s hash under the current key.
    pub fn hash(&self, domain: &str, message: &[u8]) -> KeyedHash {
        KeyedHash::compute(&self.current_key, &self.current, domain, message)
    }

    /// `message`'s hash under `id`.
    pub fn hash_under(&self, id: &HmacKeyId, domain: &str, message: &[u8]) -> Result<KeyedHash, UnknownHmacKey> {
        let key = self.keys.get(id).ok_or_else(|| UnknownHmacKey(id.clone()))?;
        Ok(KeyedHash::compute(key, id, domain, message))
    }

    /// `message`'s hash under every key, the current key's first: what a look-up by hash tries.
    pub fn hashes(&self, domain: &str, message: &[u8]) -> Vec<KeyedHash> {
        let mut hashes = vec![self.hash(domain, message)];
        hashes.extend(
            self.keys
                .iter()
                .filter(|(id, _)| **id != self.current)
                .map(|(id, key)| KeyedHash::compute(key, id, domain, message)),
        );
        hashes
    }

    /// Whether `stored` is `message`'s hash, made under whichever key it names (in constant time).
    pub fn verify(&self, stored: &KeyedHash, domain: &str, message: &[u8]) -> Result<bool, UnknownHmacKey> {
        Ok(self.hash_under(stored.key_id(), domain, message)?.matches(stored))
    }

    /// The id a new key would get: `k` and one more than the highest `k<n>` (`k1` for the first).
    pub fn next_id(&self) -> HmacKeyId {
        let highest = self
            .keys
            .keys()
            .filter_map(|id| id.as_str().strip_prefix('k').and_then(|n| n.parse::<u32>().ok()))
            .max()
            .unwrap_or(0);
        HmacKeyId(format!("k{}", highest.saturating_add(1)))
    }

    /// This keyring with `key` added as `id` (not current).
    pub fn with_key(&self, id: HmacKeyId, key: SecretBytes) -> Result<Self, HmacKeyringError> {
        if self.holds(&id) {
            return Err(HmacKeyringError::Exists(id));
        }
        let key = checked(&id, key.expose().clone())?;
        let mut next = self.clone();
        next.keys.insert(id, key);
        Ok(next)
    }

    /// This keyring with `id` current.
    pub fn with_current(&self, id: &HmacKeyId) -> Result<Self, HmacKeyringError> {
        if !self.holds(id) {
            return Err(HmacKeyringError::Unknown(id.clone()));
        }
        Self::build(id.clone(), self.keys.clone())
    }

    /// This keyring without `id`, which must not be current.
    pub fn without(&self, id: &HmacKeyId) -> Result<Self, HmacKeyringError> {
        if *id == self.current {
            return Err(HmacKeyringError::Current(id.clone()));
        }
        let mut keys = self.keys.clone();
        if keys.remove(id).is_none() {
            return Err(HmacKeyringError::Unknown(id.clone()));
        }
        Self::build(self.current.clone(), keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> HmacKeyId {
        HmacKeyId::parse(raw).unwrap()
    }

    fn keyring(current: &str, keys: &[(&str, u8)]) -> HmacKeyring {
        HmacKeyring::new(id(current), keys.iter().map(|(k, b)| (id(k), SecretBytes::new(vec![*b; 32])))).unwrap()
    }

    #[test]
    fn a_plain_string_is_a_legacy_keyring_and_a_document_a_keyring() {
        let legacy = HmacKeyring::from_secret(&SecretString::from("h".repeat(48))).unwrap();
        assert_eq!(legacy.current(), &HmacKeyId::legacy());
        assert_eq!(legacy.ids().count(), 1);
        let short = HmacKeyring::from_secret(&SecretString::from("h".repeat(31))).unwrap_err();
        assert!(!short.to_string().contains("hhh"), "{short}");

        let both = keyring("k2", &[("k1", 1), ("k2", 2)]);
        let read = HmacKeyring::from_secret(&both.to_secret()).unwrap();
        assert_eq!(read.current(), &id("k2"));
        assert_eq!(read.ids().map(HmacKeyId::as_str).collect::<Vec<_>>(), ["k1", "k2"]);
        assert!(read.hash("d", b"m").matches(&both.hash("d", b"m")));
        // A plain-string keyring written as a document keeps its key, as `legacy`.
        let converted = HmacKeyring::from_secret(&legacy.to_secret()).unwrap();
        assert!(converted.hash("d", b"m").matches(&legacy.hash("d", b"m")));
    }

    #[test]
    fn bad_documents_are_refused_without_their_keys() {
        let secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==";
        for (document, expected) in [
            (format!(r#"{{"current":"k1","keys":"{secret}"}}"#), "not a keyring document"),
            (format!(r#"{{"current":"k2","keys":{{"k1":"{secret}"}}}}"#), "current HMAC key `k2`"),
            (r#"{"current":"k1","keys":{"k1":"c2hvcnQ="}}"#.to_owned(), "fewer than 32 bytes"),
            (r#"{"current":"k1","keys":{"k1":"not base64!"}}"#.to_owned(), "not base64"),
            (format!(r#"{{"current":"k 1","keys":{{"k 1":"{secret}"}}}}"#), "key id"),
            (format!(r#"{{"current":"k1","keys":{{"k1":"{secret}"}},"extra":1}}"#), "not a keyring document"),
        ] {
            let error = HmacKeyring::from_secret(&SecretString::from(document.as_str())).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains(secret), "{error}");
        }
        let printed = format!("{:?}", keyring("k1", &[("k1", 7)]));
        assert_eq!(printed, r#"HmacKeyring { current: HmacKeyId("k1"), keys: [HmacKeyId("k1")] }"#);
    }

    #[test]
    fn hashes_name_their_key_and_verify_under_it() {
        let old = keyring("k1", &[("k1", 1)]);
        let stored = old.hash("d", b"m");
        assert_eq!(stored.key_id(), &id("k1"));
        let rotated = old.with_key(id("k2"), SecretBytes::new(vec![2; 32])).unwrap().with_current(&id("k2")).unwrap();
        assert_eq!(rotated.hash("d", b"m").key_id(), &id("k2"));
        assert_eq!(rotated.verify(&stored, "d", b"m"), Ok(true));
        assert_eq!(rotated.verify(&stored, "d", b"n"), Ok(false));
        let hashes = rotated.hashes("d", b"m");
        assert_eq!(hashes.iter().map(|h| h.key_id().as_str()).collect::<Vec<_>>(), ["k2", "k1"]);
        assert!(hashes[1].matches(&stored));
        let retired = rotated.without(&id("k1")).unwrap();
        assert_eq!(retired.verify(&stored, "d", b"m"), Err(UnknownHmacKey(id("k1"))));
        assert_eq!(rotated.without(&id("k2")).unwrap_err(), HmacKeyringError::Current(id("k2")));
        assert_eq!(rotated.next_id(), id("k3"));
        assert_eq!(HmacKeyring::legacy(SecretBytes::new(vec![0; 32])).unwrap().next_id(), id("k1"));
        assert!(matches!(rotated.with_key(id("k1"), SecretBytes::new(vec![3; 32])), Err(HmacKeyringError::Exists(_))));
        assert!(matches!(
            rotated.with_key(id("k9"), SecretBytes::new(vec![3; 31])),
            Err(HmacKeyringError::TooShort(_))
        ));
        assert!(matches!(rotated.with_current(&id("k9")), Err(HmacKeyringError::Unknown(_))));
    }

    #[test]
    fn key_ids_are_short_and_plain() {
        for good in ["k1", "legacy", "2026-06_a", &"k".repeat(32)] {
            assert!(HmacKeyId::parse(good).is_some(), "{good}");
        }
        for bad in ["", "k$1", "k 1", "k#1", &"k".repeat(33), "ké"] {
            assert!(HmacKeyId::parse(bad).is_none(), "{bad}");
        }
    }
}
