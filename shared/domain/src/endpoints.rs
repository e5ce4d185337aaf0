//! Where third parties live: base URLs, paths, scopes and timeouts of banking partners and card
//! processors. Configuration, not code: a Secrets Manager secret on AWS, a file locally.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

/// How to reach one third party's API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// Scheme and host (and optional path prefix), e.g. `https://id.sandbox.btgpactual.com`.
    pub base_url: String,
    /// Where the partner gateway sends API calls, when the partner serves its API from another host
    /// than its tokens (BTG: `id.` issues tokens, `api.` serves Pix); defaults to `base_url`.
    #[serde(default)]
    pub api_base_url: Option<String>,
    /// The path of the call made; defaults to the third party's documented one.
    #[serde(default)]
    pub token_path: Option<String>,
    /// OAuth2 scope to request, where the partner wants one (JDPI: `dict_api spi_api qrcode_api`).
    #[serde(default)]
    pub scope: Option<String>,
    /// How long to wait for the partner, whole request included.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// What a tenant may call through the partner gateway, per credential type (`PIX`, `BAAS`,
    /// `PAY2ALL`). Configuration rather than code, so an operator can open a partner operation
    /// without a release; a type with no entry may call nothing.
    #[serde(default)]
    pub routes: BTreeMap<String, Vec<RouteRule>>,
}

/// One allowed operation: a method and a path pattern relative to the base URL, where `{name}`
/// stands for exactly one path segment (`/pix/v1/transfers/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// The pattern, starting with `/`.
    pub path: String,
}

/// The methods the gateway forwards.
pub const GATEWAY_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

impl RouteRule {
    fn check(&self) -> Result<(), String> {
        if !GATEWAY_METHODS.contains(&self.method.as_str()) {
            return Err(format!("route method {:?} is not one of GET, POST, PUT, PATCH, DELETE", self.method));
        }
        let Some(rest) = self.path.strip_prefix('/') else {
            return Err(format!("route path {:?} must start with /", self.path));
        };
        for segment in rest.split('/') {
            let literal = !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
            let placeholder = segment.len() > 2
                && segment.starts_with('{')
                && segment.ends_with('}')
                && segment[1..segment.len() - 1].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !(literal || placeholder) {
                return Err(format!(
                    "route path {:?} has a segment that is neither a name nor {{placeholder}}",
                    self.path
                ));
            }
        }
        Ok(())
    }

    /// Whether `segments` (an already validated partner path, split on `/`) matches this pattern.
    pub fn matches(&self, method: &str, segments: &[&str]) -> bool {
        let pattern: Vec<&str> = self.path.trim_start_matches('/').split('/').collect();
        self.method == method
            && pattern.len() == segments.len()
            && pattern.iter().zip(segments).all(|(expected, actual)| expected.starts_with('{') || expected == actual)
    }
}

fn default_timeout_ms() -> u64 {
    5_000
}

impl Endpoint {
    /// The base URL of API calls made through the gateway.
    pub fn api_base(&self) -> &str {
        self.api_base_url.as_deref().unwrap_or(&self.base_url)
    }

    /// The request timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Every endpoint of one kind of third party, keyed by its wire name (`"BTG"`, `"Stripe"`): the JSON
/// document of a config secret and of a local config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct EndpointSettings(BTreeMap<String, Endpoint>);

impl EndpointSettings {
    /// The longest a partner may take: the whole request must fit in the function's timeout.
    pub const MAX_TIMEOUT_MS: u64 = 8_000;

    /// Parses and checks the JSON document: every base URL is HTTPS (plain HTTP only on loopback,
    /// for the sandbox and tests) and every timeout is between 1 ms and [`Self::MAX_TIMEOUT_MS`].
    pub fn from_json(json: &str) -> Result<Self, EndpointSettingsError> {
        let settings: Self = serde_json::from_str(json).map_err(|e| EndpointSettingsError::Invalid(e.to_string()))?;
        for (name, endpoint) in &settings.0 {
            let invalid = |why: &str| EndpointSettingsError::Invalid(format!("{name}: {why}"));
            for url in std::iter::once(&endpoint.base_url).chain(&endpoint.api_base_url) {
                let uri: http::Uri = url.parse().map_err(|_| invalid("base_url is not a URL"))?;
                let loopback = matches!(uri.host(), Some("127.0.0.1" | "localhost" | "[::1]"));
                match uri.scheme_str() {
                    Some("https") => {}
                    Some("http") if loopback => {}
                    _ => return Err(invalid("base_url must be https (http only on loopback)")),
                }
            }
            if !(1..=Self::MAX_TIMEOUT_MS).contains(&endpoint.timeout_ms) {
                return Err(invalid("timeout_ms must be between 1 and 8000"));
            }
            for rule in endpoint.routes.values().flatten() {
                rule.check().map_err(|why| invalid(&why))?;
            }
        }
        Ok(settings)
    }

    /// The endpoint named `name`, if configured.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.0.get(name)
    }
}

/// Why endpoint settings could not be had.
#[derive(Debug, thiserror::Error)]
pub enum EndpointSettingsError {
    /// The document is not valid.
    #[error("endpoint settings are invalid: {0}")]
    Invalid(String),
    /// The settings source failed.
    #[error("endpoint settings could not be read: {0}")]
    Unavailable(String),
}

/// Where endpoint settings come from (Secrets Manager, a file), read once and cached by the adapter.
#[async_trait]
pub trait EndpointSettingsSource: Send + Sync {
    /// The current settings.
    async fn settings(&self) -> Result<Arc<EndpointSettings>, EndpointSettingsError>;
}

/// Settings known up front (a local file already read, a test).
#[async_trait]
impl EndpointSettingsSource for EndpointSettings {
    async fn settings(&self) -> Result<Arc<EndpointSettings>, EndpointSettingsError> {
        Ok(Arc::new(self.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_with_defaults_and_refuse_unknown_fields() {
        let s = EndpointSettings::from_json(r#"{"BTG":{"base_url":"https://x"}}"#).unwrap();
        let btg = s.endpoint("BTG").unwrap();
        assert_eq!((btg.timeout_ms, btg.token_path.as_deref()), (5_000, None));
        assert!(s.endpoint("CELCOIN").is_none());
        assert!(EndpointSettings::from_json(r#"{"BTG":{"base_url":"https://x","tiemout":1}}"#).is_err());
    }

    #[test]
    fn routes_parse_check_and_match_segment_by_segment() {
        let s = EndpointSettings::from_json(
            r#"{"BTG":{"base_url":"https://x","routes":{"PIX":[{"method":"POST","path":"/pix/v1/transfers"},{"method":"GET","path":"/pix/v1/transfers/{id}"}]}}}"#,
        )
        .unwrap();
        let rules = &s.endpoint("BTG").unwrap().routes["PIX"];
        assert!(rules[0].matches("POST", &["pix", "v1", "transfers"]));
        assert!(!rules[0].matches("GET", &["pix", "v1", "transfers"]));
        assert!(!rules[0].matches("POST", &["pix", "v1", "transfers", "x"]));
        assert!(!rules[0].matches("POST", &["pix", "v1"]));
        assert!(rules[1].matches("GET", &["pix", "v1", "transfers", "E123"]));
        assert!(!rules[1].matches("GET", &["pix", "v1", "transfers", "E123", "x"]));
        for bad in [
            r#"{"method":"TRACE","path":"/x"}"#,
            r#"{"method":"GET","path":"x"}"#,
            r#"{"method":"GET","path":"/a/../b"}"#,
            r#"{"method":"GET","path":"/a//b"}"#,
            r#"{"method":"GET","path":"/a/{}"}"#,
            r#"{"method":"GET","path":"/a/b@c"}"#,
        ] {
            let json = format!(r#"{{"BTG":{{"base_url":"https://x","routes":{{"PIX":[{bad}]}}}}}}"#);
            assert!(EndpointSettings::from_json(&json).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_refuse_plain_http_off_loopback_and_unbounded_timeouts() {
        for ok in ["https://id.btgpactual.com", "http://127.0.0.1:9000/btg", "http://localhost:1"] {
            assert!(EndpointSettings::from_json(&format!(r#"{{"BTG":{{"base_url":"{ok}"}}}}"#)).is_ok(), "{ok}");
        }
        for bad in [
            r#"{"base_url":"http://id.btgpactual.com"}"#,
            r#"{"base_url":"ftp://x"}"#,
            r#"{"base_url":"not a url"}"#,
            r#"{"base_url":"https://x","timeout_ms":0}"#,
            r#"{"base_url":"https://x","timeout_ms":60000}"#,
            r#"{"base_url":"https://x","api_base_url":"http://api.example"}"#,
        ] {
            assert!(EndpointSettings::from_json(&format!(r#"{{"BTG":{bad}}}"#)).is_err(), "{bad}");
        }
    }
}
