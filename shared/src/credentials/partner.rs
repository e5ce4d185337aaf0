use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use super::{CredentialRequest, Provider};

/// How to reach one partner's authentication API. Configuration, not code: Secrets Manager on AWS,
/// a file locally.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerEndpoint {
    /// Scheme and host (and optional path prefix), e.g. `https://id.sandbox.btgpactual.com`.
    pub base_url: String,
    /// The token/login path; defaults to the partner's documented one.
    #[serde(default)]
    pub token_path: Option<String>,
    /// OAuth2 scope to request, where the partner wants one (JDPI: `dict_api spi_api qrcode_api`).
    #[serde(default)]
    pub scope: Option<String>,
    /// How long to wait for the partner, whole request included.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    5_000
}

impl PartnerEndpoint {
    /// The request timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Every partner's endpoint, keyed by wire name (`"BTG"`): the JSON document of the partner-config
/// secret and of the local config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct PartnerSettings(BTreeMap<String, PartnerEndpoint>);

impl PartnerSettings {
    /// Parses the JSON document.
    pub fn from_json(json: &str) -> Result<Self, PartnerSettingsError> {
        serde_json::from_str(json).map_err(|e| PartnerSettingsError::Invalid(e.to_string()))
    }

    /// The endpoint for `provider`, if configured.
    pub fn endpoint(&self, provider: Provider) -> Option<&PartnerEndpoint> {
        self.0.get(provider.as_str())
    }
}

/// Why partner settings could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PartnerSettingsError {
    /// The document is not valid.
    #[error("partner settings are invalid: {0}")]
    Invalid(String),
    /// The settings source failed.
    #[error("partner settings could not be read: {0}")]
    Unavailable(String),
}

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
    async fn authenticate(
        &self,
        endpoint: &PartnerEndpoint,
        request: &CredentialRequest,
    ) -> Result<(), PartnerError>;
}

/// Where partner settings come from (Secrets Manager, a file), read once and cached by the adapter.
#[async_trait]
pub trait PartnerSettingsSource: Send + Sync {
    /// The current settings.
    async fn settings(&self) -> Result<std::sync::Arc<PartnerSettings>, PartnerSettingsError>;
}

/// Settings known up front (a local file already read, a test).
#[async_trait]
impl PartnerSettingsSource for PartnerSettings {
    async fn settings(&self) -> Result<std::sync::Arc<PartnerSettings>, PartnerSettingsError> {
        Ok(std::sync::Arc::new(self.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_with_defaults_and_refuse_unknown_fields() {
        let s = PartnerSettings::from_json(r#"{"BTG":{"base_url":"http://x"}}"#).unwrap();
        let btg = s.endpoint(Provider::Btg).unwrap();
        assert_eq!((btg.timeout_ms, btg.token_path.as_deref()), (5_000, None));
        assert!(s.endpoint(Provider::Celcoin).is_none());
        assert!(
            PartnerSettings::from_json(r#"{"BTG":{"base_url":"http://x","tiemout":1}}"#).is_err()
        );
    }
}
