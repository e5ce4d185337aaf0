//! The `tracking_id` that follows a request through logs, responses and (later) events.

use std::fmt;

/// A caller-chosen or generated request identifier.
///
/// Callers choose their own format (Pismo's own example is not a UUID), so any 1–128 characters of
/// `A-Z a-z 0-9 . _ : -` are accepted; anything else could forge log lines and is replaced by a
/// fresh UUID.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TrackingId(String);

impl TrackingId {
    /// Accepts a caller's value when it is safe to log.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= 128
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        ok.then(|| Self(raw.to_owned()))
    }

    /// A new random UUID v4.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for TrackingId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for TrackingId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <String as serde::Deserialize>::deserialize(d)?;
        TrackingId::parse(&raw).ok_or_else(|| serde::de::Error::custom("not a tracking id"))
    }
}

impl fmt::Display for TrackingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TrackingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrackingId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_pismo_style_ids_and_refuses_log_forging_ones() {
        assert!(TrackingId::parse("1dd-dd84-cniidk-ioumjskd-87690").is_some());
        assert!(TrackingId::parse("a\nfake log line").is_none());
        assert!(TrackingId::parse("").is_none());
        assert_eq!(TrackingId::generate().as_str().len(), 36);
    }
}
