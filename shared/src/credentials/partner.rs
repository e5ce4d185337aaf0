use async_trait::async_trait;

use super::CredentialRequest;
use crate::endpoints::Endpoint;

/// How a partner's test authentication ended, short of success.
#[derive(Debug, thiserror::Error)]
pub enum PartnerError {
    /// The partner said the credential is wrong (OAuth `invalid_client`, 401/403).
    #[error("the partner rejected the credential")]
    Rejected,
    /// 5xx, an unexpected answer, or no connection. `reason` never holds a body.
    #[error("the partner is unavailable: {0}")]
    Unavailable(String),
    /// No answer within the endpoint's timeout.
    #[error("the partner did not answer in time")]
    Timeout,
}

/// The port to banking partners: one real authenticating call, as cheap as the partner offers.
#[async_trait]
pub trait PartnerAuthenticator: Send + Sync {
    /// Tries `request`'s credential against `endpoint`; `Ok` means the partner accepted it.
    async fn authenticate(&self, endpoint: &Endpoint, request: &CredentialRequest) -> Result<(), PartnerError>;
}
