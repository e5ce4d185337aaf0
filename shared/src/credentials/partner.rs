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
    /// The longest a partner may take: the whole request must fit in the function's timeout.
    pub const MAX_TIMEOUT_MS: u64 = 8_000;

    /// Parses and checks the JSON document: every base URL is HTTPS (plain HTTP only on loopback,
    /// for the sandbox and tests) and every timeout is between 1 ms and [`Self::MAX_TIMEOUT_MS`].
    pub fn from_json(json: &str) -> Result<Self, PartnerSettingsError> {
        let settings: Self = serde_json::from_str(json).map_err(|e| PartnerSettingsError::Invalid(e.to_string()))?;
        for (name, endpoint) in &settings.0 {
            let invalid = |why: &str| PartnerSettingsError::Invalid(format!("{name}: {why}"));
            let uri: http::Uri = endpoint.base_url.parse().map_err(|_| invalid("base_url is not a URL"))?;
            let loopback = matches!(uri.host(), Some("127.0.0.1" | "localhost" | "[::1]"));
            match uri.scheme_str() {
                Some("https") => {}
                Some("http") if loopback => {}
                _ => return Err(invalid("base_url must be https (http only on loopback)")),
            }
            if !(1..=Self::MAX_TIMEOUT_MS).contains(&endpoint.timeout_ms) {
                return Err(invalid("timeout_ms must be between 1 and 8000"));
            }
        }
        Ok(settings)
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
    async fn authenticate(&self, endpoint: &PartnerEndpoint, request: &CredentialRequest) -> Result<(), PartnerError>;
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
        let s = PartnerSettings::from_json(r#"{"BTG":{"base_url":"https://x"}}"#).unwrap();
        let btg = s.endpoint(Provider::Btg).unwrap();
        assert_eq!((btg.timeout_ms, btg.token_path.as_deref()), (5_000, None));
        assert!(s.endpoint(Provider::Celcoin).is_none());
        assert!(PartnerSettings::from_json(r#"{"BTG":{"base_url":"https://x","tiemout":1}}"#).is_err());
    }

    #[test]
    fn settings_refuse_plain_http_off_loopback_and_unbounded_timeouts() {
        for ok in ["https://id.btgpactual.com", "http://127.0.0.1:9000/btg", "http://localhost:1"] {
            assert!(PartnerSettings::from_json(&format!(r#"{{"BTG":{{"base_url":"{ok}"}}}}"#)).is_ok(), "{ok}");
        }
        for bad in [
            r#"{"base_url":"http://id.btgpactual.com"}"#,
            r#"{"base_url":"ftp://x"}"#,
            r#"{"base_url":"not a url"}"#,
            r#"{"base_url":"https://x","timeout_ms":0}"#,
            r#"{"base_url":"https://x","timeout_ms":60000}"#,
        ] {
            assert!(PartnerSettings::from_json(&format!(r#"{{"BTG":{bad}}}"#)).is_err(), "{bad}");
        }
    }
}
