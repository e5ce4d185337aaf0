use std::fmt;

use serde::Serialize;

use crate::secret::{SecretBytes, SecretString};

/// One of the three credential parameters a connection can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CredentialField {
    /// `key`.
    Key,
    /// `secret`.
    Secret,
    /// `mid`.
    Mid,
}

impl CredentialField {
    /// All three, in canonical order.
    pub const ALL: [Self; 3] = [Self::Key, Self::Secret, Self::Mid];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Secret => "secret",
            Self::Mid => "mid",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

impl fmt::Display for CredentialField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A processor credential set `{key?, secret?, mid?}`: every value secret, none ever shown.
#[derive(Debug, Clone, Default)]
pub struct ConnectionCredentials {
    /// `key`.
    pub key: Option<SecretString>,
    /// `secret`.
    pub secret: Option<SecretString>,
    /// `mid`.
    pub mid: Option<SecretString>,
}

#[derive(Serialize)]
struct Plain<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mid: Option<&'a str>,
}

impl ConnectionCredentials {
    /// The value of `field`, if present.
    pub fn get(&self, field: CredentialField) -> Option<&SecretString> {
        match field {
            CredentialField::Key => self.key.as_ref(),
            CredentialField::Secret => self.secret.as_ref(),
            CredentialField::Mid => self.mid.as_ref(),
        }
    }

    /// The value of `field` as text ("" when absent): for building a processor call.
    pub fn text(&self, field: CredentialField) -> &str {
        self.get(field).map_or("", |v| v.expose().as_str())
    }

    /// Which fields are present, in canonical order.
    pub fn fields(&self) -> Vec<CredentialField> {
        CredentialField::ALL.into_iter().filter(|f| self.get(*f).is_some()).collect()
    }

    /// Whether no field is present.
    pub fn is_empty(&self) -> bool {
        self.fields().is_empty()
    }

    /// `self` with every field `newer` has replaced by `newer`'s value.
    pub fn overlaid_with(&self, newer: &Self) -> Self {
        Self {
            key: newer.key.clone().or_else(|| self.key.clone()),
            secret: newer.secret.clone().or_else(|| self.secret.clone()),
            mid: newer.mid.clone().or_else(|| self.mid.clone()),
        }
    }

    /// The canonical encoding: what is sealed and what is fingerprinted. Field presence is part of
    /// it, so `{key: "a"}` and `{key: "a", mid: ""}` never coincide.
    pub fn canonical_bytes(&self) -> SecretBytes {
        let plain = Plain {
            key: self.key.as_ref().map(|v| v.expose().as_str()),
            secret: self.secret.as_ref().map(|v| v.expose().as_str()),
            mid: self.mid.as_ref().map(|v| v.expose().as_str()),
        };
        SecretBytes::new(serde_json::to_vec(&plain).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(key: Option<&str>, secret: Option<&str>, mid: Option<&str>) -> ConnectionCredentials {
        ConnectionCredentials { key: key.map(Into::into), secret: secret.map(Into::into), mid: mid.map(Into::into) }
    }

    #[test]
    fn overlay_replaces_only_the_fields_given() {
        let merged = set(Some("k"), Some("old"), None).overlaid_with(&set(None, Some("new"), Some("m")));
        assert_eq!(merged.fields(), [CredentialField::Key, CredentialField::Secret, CredentialField::Mid]);
        assert_eq!((merged.text(CredentialField::Key), merged.text(CredentialField::Secret)), ("k", "new"));
    }

    #[test]
    fn canonical_bytes_distinguish_presence_and_never_print() {
        assert_ne!(
            set(Some("a"), None, None).canonical_bytes().expose(),
            set(Some("a"), None, Some("")).canonical_bytes().expose()
        );
        assert_eq!(set(None, Some("s"), None).canonical_bytes().expose(), br#"{"secret":"s"}"#);
        assert!(!format!("{:?}", set(Some("visible?"), None, None)).contains("visible?"));
    }
}
