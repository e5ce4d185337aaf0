//! A value that must never be shown: API keys, data keys, signing keys.
//!
//! PCI DSS asks that sensitive authentication data never reaches logs or responses. Rather than rely on
//! every call site remembering that, the type itself refuses: `Debug` and `Serialize` print a fixed
//! mask, there is no `Display`, and the memory is wiped on drop. Reading the value is an explicit,
//! greppable call to [`Secret::expose`].

use std::fmt;

use serde::{Serialize, Serializer};
use zeroize::Zeroize;

/// The text every secret shows instead of itself.
pub const REDACTED: &str = "[REDACTED]";

/// Holds a sensitive value; see the module documentation.
pub struct Secret<T: Zeroize>(T);

/// The common case: a secret string such as a partner API key.
pub type SecretString = Secret<String>;

/// A secret byte string: data keys, signing keys.
pub type SecretBytes = Secret<Vec<u8>>;

impl<T: Zeroize> Secret<T> {
    /// Wraps a value; from here on only [`Secret::expose`] can read it.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Reads the value. Every call is a place where the secret leaves its box: keep them few.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize + Clone> Clone for Secret<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T: Zeroize> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self::new(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_serialize_never_show_the_value() {
        let secret = SecretString::from("sk_live_do_not_print");
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(format!("{:#?}", Some(&secret)), format!("Some(\n    {REDACTED},\n)"));
        let json = serde_json::to_string(&serde_json::json!({ "k": &secret })).unwrap();
        assert!(!json.contains("sk_live"), "{json}");
        assert_eq!(secret.expose(), "sk_live_do_not_print");
    }
}
