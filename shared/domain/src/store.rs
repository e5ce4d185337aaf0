//! What every store adapter can fail with.

/// A store failure; messages never contain item contents.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed or could not be reached.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// An item exists but cannot be read back into the domain type.
    #[error("stored item is unreadable: {0}")]
    Corrupt(String),
}
