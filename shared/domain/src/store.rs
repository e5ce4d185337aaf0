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

/// Where a scan of a table stopped: the key of the last item it read (whatever its kind); the next
/// page starts after it. Scans are for maintenance (re-keying hashes), never for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanCursor {
    /// The partition key.
    pub pk: String,
    /// The sort key.
    pub sk: String,
}

/// One page of a scan: what it found, and where the next page starts (`None`: the scan is done).
#[derive(Debug)]
pub struct Page<T> {
    /// The items of the kind scanned for (a page may hold none and still not be the last).
    pub items: Vec<T>,
    /// Where the next page starts.
    pub next: Option<ScanCursor>,
}
