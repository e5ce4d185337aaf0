use super::{CredentialField, Processor};

/// Everything that can go wrong setting or rotating a connection's credentials. The HTTP layer
/// maps each to Preczn's `{statusCode, message, error}` body, from one table (`cofre-http`'s
/// `error/codes.rs`; Preczn's shape has no codes). No variant carries a credential.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// No valid token.
    #[error("unauthorized")]
    Unauthorized,
    /// Malformed body: the message says what is wrong, never with a value.
    #[error("{0}")]
    InvalidRequest(String),
    /// The merchant or connection does not exist for this tenant.
    #[error("merchant or connection not found")]
    NotFound,
    /// The merged set lacks fields the processor needs.
    #[error("{processor} requires fields: {}", fields.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", "))]
    MissingFields {
        /// The processor.
        processor: Processor,
        /// Exactly the missing fields.
        fields: Vec<CredentialField>,
    },
    /// Credentials are on file and the request does not prove knowledge of them.
    #[error("credentials already exist and no existingCredentials were given")]
    CredentialsExist,
    /// `existingCredentials` do not match what is on file, or a concurrent rotation won.
    #[error("existingCredentials do not match those on file")]
    ExistingMismatch,
    /// Too many failed proofs of the credentials on file: no comparison is made until the lock ends
    /// (or another request's comparison is under way).
    #[error("proofs of the credentials on file are locked for {}s", retry_after.as_secs())]
    ProofLocked {
        /// When to try again (`Retry-After`).
        retry_after: std::time::Duration,
    },
    /// The processor refused the new set.
    #[error("the processor rejected the credentials")]
    InvalidCredentials,
    /// The processor answered 5xx or could not be reached.
    #[error("processor unavailable: {0}")]
    ProcessorUnavailable(String),
    /// The processor did not answer in time.
    #[error("processor timed out")]
    ProcessorTimeout,
    /// No endpoint configured for the processor.
    #[error("{0} - API configuration not found")]
    ProcessorConfigNotFound(Processor),
    /// Sealing or fingerprinting failed.
    #[error("cryptography error: {0}")]
    Crypto(String),
    /// The fingerprint on file was made with an HMAC key the keyring no longer holds: it cannot be
    /// compared (an operator retired the key before re-hashing; `cofre-local hmac-key rehash` re-keys it).
    #[error(transparent)]
    UnknownHmacKey(#[from] crate::crypto::UnknownHmacKey),
    /// The store failed.
    #[error("store error: {0}")]
    Store(String),
}
