use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};

use crate::credentials::{PartnerError, PartnerLogin};
use crate::endpoints::Endpoint;
use crate::secret::SecretString;

/// A partner's access token and how long the partner said it lives.
#[derive(Debug)]
pub struct AccessToken {
    /// The bearer token. Never logged, returned or stored.
    pub value: SecretString,
    /// The partner's `expires_in`.
    pub lifetime: Duration,
}

/// A call to make on the partner's API, already checked: a relative path that cannot leave the
/// base URL, allowlisted headers only.
#[derive(Debug, Clone)]
pub struct PartnerRequest {
    /// The method.
    pub method: Method,
    /// The path relative to the endpoint's base URL, starting with `/`, as the caller encoded it.
    pub path: String,
    /// The query string, as the caller encoded it.
    pub query: Option<String>,
    /// Allowlisted request headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body.
    pub body: Bytes,
}

/// What the partner answered.
#[derive(Debug, Clone)]
pub struct PartnerResponse {
    /// The partner's status.
    pub status: u16,
    /// Allowlisted response headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body, at most the adapter's limit.
    pub body: Bytes,
}

/// The port to partners' APIs: the token call each partner issues tokens with, and the call itself.
#[async_trait]
pub trait PartnerApi: Send + Sync {
    /// Asks the partner for an access token with the tenant's key.
    async fn issue_token(&self, endpoint: &Endpoint, login: PartnerLogin<'_>) -> Result<AccessToken, PartnerError>;

    /// Calls the partner with `token`; any HTTP answer is `Ok`, whatever its status.
    async fn forward(
        &self,
        endpoint: &Endpoint,
        token: &SecretString,
        request: &PartnerRequest,
    ) -> Result<PartnerResponse, PartnerError>;
}
