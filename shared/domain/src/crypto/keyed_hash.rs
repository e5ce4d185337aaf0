use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use super::HmacKeyId;
use crate::secret::SecretBytes;

/// An HMAC-SHA256 digest and the id of the key it was made with ([`super::HmacKeyring`]): compares in
/// constant time (`==` included), prints nothing of itself.
///
/// Stored as `<key id>$<digest>`; a hash made with [`HmacKeyId::LEGACY`] is stored as the digest
/// alone, as every hash was before keys had ids, so such stored hashes read as made with it.
#[derive(Clone)]
pub struct KeyedHash {
    key_id: HmacKeyId,
    digest: [u8; 32],
}

impl PartialEq for KeyedHash {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other)
    }
}

impl Eq for KeyedHash {}

/// Splits a stored hash into its key id and its digest's text.
fn untag(stored: &str) -> Option<(HmacKeyId, &str)> {
    match stored.split_once('$') {
        Some((id, digest)) => Some((HmacKeyId::parse(id)?, digest)),
        None => Some((HmacKeyId::legacy(), stored)),
    }
}

impl KeyedHash {
    /// HMAC-SHA256 of `message` under `key` (whose id is `key_id`), with `domain` prefixed
    /// (length-delimited) so hashes made for one purpose never equal hashes made for another.
    pub(crate) fn compute(key: &SecretBytes, key_id: &HmacKeyId, domain: &str, message: &[u8]) -> Self {
        let key = hmac::Key::new(hmac::HMAC_SHA256, key.expose());
        let mut context = hmac::Context::with_key(&key);
        context.update(&(domain.len() as u64).to_be_bytes());
        context.update(domain.as_bytes());
        context.update(message);
        let mut digest = [0_u8; 32];
        digest.copy_from_slice(context.sign().as_ref());
        Self { key_id: key_id.clone(), digest }
    }

    /// A hash stored before keys had ids (made with [`HmacKeyId::LEGACY`]); `None` unless 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Self::with_key_id(HmacKeyId::legacy(), bytes)
    }

    /// A hash made with `key_id`; `None` unless 32 bytes.
    pub fn with_key_id(key_id: HmacKeyId, bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(|digest| Self { key_id, digest })
    }

    /// The key it was made with.
    pub fn key_id(&self) -> &HmacKeyId {
        &self.key_id
    }

    /// The digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.digest
    }

    /// Equality in constant time: how long it takes says nothing about where two digests differ.
    /// Hashes made with different keys never match.
    pub fn matches(&self, other: &Self) -> bool {
        let digests_match = verify_slices_are_equal(&self.digest, &other.digest).is_ok();
        digests_match && self.key_id == other.key_id
    }

    fn tagged(&self, digest: String) -> String {
        if self.key_id.is_legacy() { digest } else { format!("{}${digest}", self.key_id) }
    }

    /// As stored (and as DynamoDB conditions compare it): `<key id>$<base64>`, or the base64 alone.
    pub fn encode(&self) -> String {
        self.tagged(STANDARD.encode(self.digest))
    }

    /// Reads [`KeyedHash::encode`]'s form.
    pub fn decode(stored: &str) -> Option<Self> {
        let (key_id, digest) = untag(stored)?;
        Self::with_key_id(key_id, &STANDARD.decode(digest).ok()?)
    }

    /// For a key (a DynamoDB sort key): `<key id>$<URL-safe base64>`, or the base64 alone.
    pub fn encode_for_key(&self) -> String {
        self.tagged(URL_SAFE_NO_PAD.encode(self.digest))
    }

    /// As hex: `<key id>$<hex>`, or the hex alone.
    pub fn encode_hex(&self) -> String {
        // Into one buffer: a `format!` per byte made 32 allocations (1.3% of an authorization's CPU
        // under load).
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(2 * self.digest.len());
        for b in self.digest {
            hex.push(DIGITS[usize::from(b >> 4)] as char);
            hex.push(DIGITS[usize::from(b & 0xf)] as char);
        }
        self.tagged(hex)
    }

    /// Reads [`KeyedHash::encode_hex`]'s form.
    pub fn decode_hex(stored: &str) -> Option<Self> {
        let (key_id, digest) = untag(stored)?;
        if digest.len() != 64 || !digest.is_ascii() {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..32).map(|i| u8::from_str_radix(&digest[2 * i..2 * i + 2], 16).ok()).collect();
        Self::with_key_id(key_id, &bytes?)
    }
}

/// Stored as [`KeyedHash::encode`].
impl serde::Serialize for KeyedHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.encode())
    }
}

impl<'de> serde::Deserialize<'de> for KeyedHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <String as serde::Deserialize>::deserialize(d)?;
        Self::decode(&raw).ok_or_else(|| serde::de::Error::custom("a keyed hash is a key id and 32 bytes of base64"))
    }
}

impl std::fmt::Debug for KeyedHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyedHash({}, ..)", self.key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_depend_on_key_domain_and_message() {
        let (k1, k2) = (SecretBytes::new(vec![1; 32]), SecretBytes::new(vec![2; 32]));
        let id = HmacKeyId::legacy();
        let base = KeyedHash::compute(&k1, &id, "d", b"m");
        assert!(base.matches(&KeyedHash::compute(&k1, &id, "d", b"m")));
        assert!(!base.matches(&KeyedHash::compute(&k2, &id, "d", b"m")));
        assert!(!base.matches(&KeyedHash::compute(&k1, &id, "e", b"m")));
        assert!(!base.matches(&KeyedHash::compute(&k1, &id, "d", b"n")));
        let ab = KeyedHash::compute(&k1, &id, "ab", b"c");
        assert!(!ab.matches(&KeyedHash::compute(&k1, &id, "a", b"bc")));
        let other_id = HmacKeyId::parse("k1").unwrap();
        assert!(!base.matches(&KeyedHash::compute(&k1, &other_id, "d", b"m")), "the same digest under another id");
        assert_eq!(format!("{base:?}"), "KeyedHash(legacy, ..)");
    }

    #[test]
    fn legacy_hashes_are_stored_as_before_and_others_with_their_key_id() {
        let key = SecretBytes::new(vec![1; 32]);
        let legacy = KeyedHash::compute(&key, &HmacKeyId::legacy(), "d", b"m");
        assert_eq!(legacy.encode(), STANDARD.encode(legacy.as_bytes()));
        assert_eq!(legacy.encode_for_key(), URL_SAFE_NO_PAD.encode(legacy.as_bytes()));
        let expected_hex: String = legacy.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(legacy.encode_hex(), expected_hex);
        let nibbles = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10];
        let bytes: Vec<u8> = nibbles.iter().chain(&nibbles).copied().collect();
        let spread = KeyedHash::with_key_id(HmacKeyId::parse("k9").unwrap(), &bytes).unwrap();
        assert_eq!(
            spread.encode_hex(),
            "k9$0123456789abcdeffedcba98765432100123456789abcdeffedcba9876543210",
            "every nibble, high and low"
        );
        let k2 = KeyedHash::compute(&key, &HmacKeyId::parse("k2").unwrap(), "d", b"m");
        assert_eq!(k2.encode(), format!("k2${}", STANDARD.encode(k2.as_bytes())));
        assert!(k2.encode_for_key().starts_with("k2$"));
        for hash in [&legacy, &k2] {
            assert!(KeyedHash::decode(&hash.encode()).unwrap().matches(hash));
            assert!(KeyedHash::decode_hex(&hash.encode_hex()).unwrap().matches(hash));
            let json = serde_json::to_string(hash).unwrap();
            assert!(serde_json::from_str::<KeyedHash>(&json).unwrap().matches(hash));
        }
        for bad in ["", "k2$", "k 2$AAAA", "$AAAA", "AAAA", "k2$zz"] {
            assert!(KeyedHash::decode(bad).is_none(), "{bad}");
            assert!(KeyedHash::decode_hex(bad).is_none(), "{bad}");
        }
    }
}
