use std::collections::BTreeMap;

/// The non-secret facts a sealed value is bound to (tenant, provider, type, purpose…).
///
/// Kept as a sorted map so its byte encoding, used as AES-GCM associated data, is canonical.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    /// Builds a context from pairs; a later duplicate key replaces an earlier one.
    pub fn new<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// The pairs, sorted by key: what KMS receives as `EncryptionContext`.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The canonical encoding used as associated data: a JSON object with sorted keys.
    pub fn associated_data(&self) -> Vec<u8> {
        serde_json::to_vec(&self.0).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_canonical_whatever_the_insertion_order() {
        let a = EncryptionContext::new([("tenant", "t1"), ("provider", "BTG")]);
        let b = EncryptionContext::new([("provider", "BTG"), ("tenant", "t1")]);
        assert_eq!(a.associated_data(), b.associated_data());
        assert_eq!(a.associated_data(), br#"{"provider":"BTG","tenant":"t1"}"#);
    }
}
