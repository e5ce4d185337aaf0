use super::Provider;

/// Everything that can go wrong storing a banking credential; the HTTP layer maps each variant to
/// Pismo's documented status, `EBAA` code and message, from one table (`cofre-http`'s
/// `error/codes.rs`). No variant carries the key.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Malformed JSON or a field of the wrong type (`EBAA0004`). `detail` names the field only.
    #[error("invalid payload: {detail}")]
    InvalidPayload {
        /// Which field is wrong and how, never its value.
        detail: String,
    },
    /// Required fields are absent or empty (`EBAA0005`), listed in request order.
    #[error("missing required fields: {0:?}")]
    MissingFields(Vec<String>),
    /// The type/provider pair is not offered (`EBAA0007`).
    #[error("unsupported type {credential_type} and provider {provider}")]
    UnsupportedPair {
        /// The type as sent (truncated).
        credential_type: String,
        /// The provider as sent (truncated).
        provider: String,
    },
    /// No API configuration for the partner (`EBAA0014`).
    #[error("{0} - API configuration not found")]
    PartnerConfigNotFound(Provider),
    /// The partner refused the credential (`EBAA0018`).
    #[error("{0} - API Invalid credential")]
    InvalidCredential(Provider),
    /// The partner answered 5xx or could not be reached (`EBAA0002`).
    #[error("{provider} unavailable: {reason}")]
    PartnerUnavailable {
        /// The partner.
        provider: Provider,
        /// For the logs: status or transport error, never a body.
        reason: String,
    },
    /// The partner did not answer in time (`EBAA0003`).
    #[error("{0} timed out")]
    PartnerTimeout(Provider),
    /// The sealed key opened to something else (`EBAA0009`).
    #[error("encrypted value differs from the key after a round trip")]
    EncryptionMismatch,
    /// The key service or cipher failed (`EBAA0010`).
    #[error("cryptography error: {0}")]
    Crypto(String),
    /// The store refused or failed the write (`EBAA0011`).
    #[error("credential store save failed: {0}")]
    Save(String),
    /// No credential of the caller's tenant has this proxy (`EBAA0101`): unknown, revoked, or
    /// another tenant's, which are indistinguishable on purpose.
    #[error("credential not found")]
    NotFound,
    /// The store failed to read or returned an unreadable item (`EBAA0012`).
    #[error("credential store get failed: {0}")]
    Get(String),
}
