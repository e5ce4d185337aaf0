//! Who is calling: the organisation (tenant) a request acts for.

use std::fmt;

/// The organisation a request acts for, from the `tenant_id` claim of a verified token.
///
/// Tenant ids end up inside storage keys and KMS encryption contexts, so the charset is restricted
/// (no `#`, no whitespace): one tenant can never forge a key that lands in another's partition.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

/// Why a `tenant_id` claim was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("tenant_id must be 1 to 64 characters of A-Z a-z 0-9 . _ : -")]
pub struct InvalidTenantId;

impl TenantId {
    /// Parses a claim value.
    pub fn parse(raw: &str) -> Result<Self, InvalidTenantId> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if ok { Ok(Self(raw.to_owned())) } else { Err(InvalidTenantId) }
    }

    /// The id as text, for keys and contexts.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for TenantId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <String as serde::Deserialize>::deserialize(d)?;
        TenantId::parse(&raw).map_err(|e| serde::de::Error::custom(e.to_string()))
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}

/// The verified caller: the tenant plus what the token says about who they are and may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The organisation every read and write is scoped to.
    pub tenant: TenantId,
    /// A human-readable name of the calling key or user (claim `name`, else `sub`), for audit fields.
    pub principal: String,
    /// The token's subject (claim `sub`): who, within the tenant, is calling.
    pub subject: String,
    /// OAuth scopes (claim `scope`, space-separated).
    pub scopes: Vec<String>,
}

impl Identity {
    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_restricted_to_a_safe_charset() {
        assert!(TenantId::parse("acme-bank_01:br").is_ok());
        for bad in ["", "a#b", "with space", "ümlaut", &"x".repeat(65)] {
            assert_eq!(TenantId::parse(bad), Err(InvalidTenantId), "{bad:?}");
        }
    }
}
