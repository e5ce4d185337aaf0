use async_trait::async_trait;

use super::{CredentialRequest, Provider, ProviderData};
use crate::endpoints::Endpoint;
use crate::secret::SecretString;

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

/// What a partner's token call needs: the partner, its non-secret fields and the key.
#[derive(Debug, Clone, Copy)]
pub struct PartnerLogin<'a> {
    /// The partner.
    pub provider: Provider,
    /// `client_id` or `username`.
    pub provider_data: &'a ProviderData,
    /// The key.
    pub key: &'a SecretString,
}

impl PartnerLogin<'_> {
    /// A `provider_data` field (empty if absent).
    pub fn field(&self, name: &str) -> &str {
        self.provider_data.get(name).map_or("", String::as_str)
    }
}

impl<'a> From<&'a CredentialRequest> for PartnerLogin<'a> {
    fn from(request: &'a CredentialRequest) -> Self {
        Self { provider: request.provider, provider_data: &request.provider_data, key: &request.key }
    }
}
