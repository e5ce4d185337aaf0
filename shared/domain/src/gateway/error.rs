use crate::credentials::Provider;

/// Everything that can stop a call through the gateway; the HTTP layer maps each variant to its
/// status, documented code and message, from one table (`cofre-http`'s `error/codes.rs`). No variant
/// carries a key, a token or a body.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No credential of the caller's tenant has this proxy (`EBAA0101`, 404).
    #[error("credential not found")]
    NotFound,
    /// The partner path tries to leave the partner's base, or is malformed (`EBAA0102`, 400).
    #[error("invalid partner path: {0}")]
    InvalidPath(&'static str),
    /// The method and path match no allowlisted operation of the credential's type (`EBAA0103`, 403).
    #[error("operation not allowed for this credential")]
    NotAllowed,
    /// The request body is over the limit (`EBAA0105`, 413).
    #[error("request body too large")]
    BodyTooLarge,
    /// No endpoint settings for the partner (`EBAA0014`, 500).
    #[error("{0} - API configuration not found")]
    PartnerConfigNotFound(Provider),
    /// The partner refused the stored key when asked for a token (`EBAA0018`, 422): the tenant
    /// must replace the credential.
    #[error("{0} - API Invalid credential")]
    CredentialRejected(Provider),
    /// The partner refused a fresh access token too (`EBAA0104`, 502).
    #[error("{0} refused a fresh access token")]
    SessionRejected(Provider),
    /// 5xx, an unexpected answer, or no connection (`EBAA0002`, 502).
    #[error("{provider} unavailable: {reason}")]
    PartnerUnavailable {
        /// The partner.
        provider: Provider,
        /// For the logs: a status or transport error, never a body.
        reason: String,
    },
    /// No answer within the endpoint's timeout (`EBAA0003`, 504).
    #[error("{0} timed out")]
    PartnerTimeout(Provider),
    /// The key service or cipher failed opening the key (`EBAA0010`, 500).
    #[error("cryptography error: {0}")]
    Crypto(String),
    /// The store could not be read (`EBAA0012`, 500).
    #[error("credential store get failed: {0}")]
    Get(String),
    /// The use could not be recorded before the call, so the call was not made (`EBAA0011`, 500).
    #[error("credential use could not be recorded: {0}")]
    Save(String),
}

impl GatewayError {
    /// The documented code, also written to the audit of a failed use: the code the HTTP answer
    /// carries (`cofre-http`'s gateway table, `error/codes.rs`; a test there holds the two equal).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "EBAA0101",
            Self::InvalidPath(_) => "EBAA0102",
            Self::NotAllowed => "EBAA0103",
            Self::SessionRejected(_) => "EBAA0104",
            Self::BodyTooLarge => "EBAA0105",
            Self::PartnerConfigNotFound(_) => "EBAA0014",
            Self::CredentialRejected(_) => "EBAA0018",
            Self::PartnerUnavailable { .. } => "EBAA0002",
            Self::PartnerTimeout(_) => "EBAA0003",
            Self::Crypto(_) => "EBAA0010",
            Self::Get(_) => "EBAA0012",
            Self::Save(_) => "EBAA0011",
        }
    }
}
