use std::sync::Arc;

use async_trait::async_trait;
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;

use super::KeyServiceError;
use crate::secret::SecretBytes;

/// Where the HMAC key for keyed hashes comes from: Secrets Manager on AWS (read once per execution
/// environment), the local keyring locally.
#[async_trait]
pub trait HmacKeySource: Send + Sync {
    /// The key.
    async fn hmac_key(&self) -> Result<Arc<SecretBytes>, KeyServiceError>;
}

/// An HMAC-SHA256 digest: compares in constant time (`==` included), prints nothing of itself.
#[derive(Clone)]
pub struct KeyedHash([u8; 32]);

impl PartialEq for KeyedHash {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other)
    }
}

impl Eq for KeyedHash {}

impl KeyedHash {
    /// HMAC-SHA256 of `message` under `key`, with `domain` prefixed (length-delimited) so hashes made
    /// for one purpose never equal hashes made for another.
    pub fn compute(key: &SecretBytes, domain: &str, message: &[u8]) -> Self {
        let key = hmac::Key::new(hmac::HMAC_SHA256, key.expose());
        let mut context = hmac::Context::with_key(&key);
        context.update(&(domain.len() as u64).to_be_bytes());
        context.update(domain.as_bytes());
        context.update(message);
        let mut digest = [0_u8; 32];
        digest.copy_from_slice(context.sign().as_ref());
        Self(digest)
    }

    /// Rebuilds a stored hash; `None` unless it is 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// The digest, for storage.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Equality in constant time: how long it takes says nothing about where two hashes differ.
    pub fn matches(&self, other: &Self) -> bool {
        verify_slices_are_equal(&self.0, &other.0).is_ok()
    }
}

/// Stored as base64.
impl serde::Serialize for KeyedHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(self.0))
    }
}

impl<'de> serde::Deserialize<'de> for KeyedHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine;
        let raw = <String as serde::Deserialize>::deserialize(d)?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(raw).map_err(serde::de::Error::custom)?;
        Self::from_bytes(&bytes).ok_or_else(|| serde::de::Error::custom("a keyed hash is 32 bytes"))
    }
}

impl std::fmt::Debug for KeyedHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedHash(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_depend_on_key_domain_and_message() {
        let (k1, k2) = (SecretBytes::new(vec![1; 32]), SecretBytes::new(vec![2; 32]));
        let base = KeyedHash::compute(&k1, "d", b"m");
        assert!(base.matches(&KeyedHash::compute(&k1, "d", b"m")));
        assert!(!base.matches(&KeyedHash::compute(&k2, "d", b"m")));
        assert!(!base.matches(&KeyedHash::compute(&k1, "e", b"m")));
        assert!(!base.matches(&KeyedHash::compute(&k1, "d", b"n")));
        assert!(!KeyedHash::compute(&k1, "ab", b"c").matches(&KeyedHash::compute(&k1, "a", b"bc")));
        assert_eq!(format!("{base:?}"), "KeyedHash(..)");
    }
}
