use std::fmt;

use crate::ids::IdSource;

/// The opaque value a tenant gets instead of its key.
///
/// 256 random bits minted when a slot is first created and kept across replacements, so callers can
/// hold on to it; it is not derived from the key, so it reveals nothing about it.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyValue(String);

impl ProxyValue {
    /// The prefix that makes proxies recognisable in support tickets.
    pub const PREFIX: &'static str = "cfp_";

    /// Mints a new proxy.
    pub fn mint(ids: &dyn IdSource) -> Self {
        Self(ids.opaque(Self::PREFIX))
    }

    /// Accepts a caller's proxy only in the shape [`ProxyValue::mint`] makes (`cfp_` and 43 base64url
    /// characters); anything else cannot name a credential.
    pub fn parse(raw: &str) -> Option<Self> {
        let body = raw.strip_prefix(Self::PREFIX)?;
        let ok = body.len() == 43 && body.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        ok.then(|| Self(raw.to_owned()))
    }

    /// Rebuilds a stored proxy.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    /// The value as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProxyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ProxyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyValue({})", self.0)
    }
}
