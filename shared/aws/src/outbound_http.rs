//! What the partner and processor clients share: how the HTTP client is built (on the trust roots
//! the AWS SDK's client uses too, see `wiring::trust_roots`), and how a transport failure is told
//! apart.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Client;

use crate::wiring::trust_roots;

/// TLS for third parties: rustls on aws-lc-rs (as reqwest would choose), the shared trust roots,
/// TLS 1.2 and 1.3, HTTP/1.1 only (as this client speaks).
fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(trust_roots())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// An HTTP client for third parties, built once per execution environment. It never follows
/// redirects (a credential is never re-sent to a host we did not configure) and gives up connecting
/// after `connect_timeout`. It verifies servers against [`trust_roots`].
pub(crate) fn third_party_client(connect_timeout: Duration) -> Result<Client, reqwest::Error> {
    let builder = Client::builder()
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("cofre/", env!("CARGO_PKG_VERSION")));
    match tls_config() {
        Ok(tls) => builder.tls_backend_preconfigured(tls),
        Err(error) => {
            // Not expected with aws-lc-rs; reqwest's own TLS set-up (which reads the store again)
            // still verifies servers.
            tracing::warn!(%error, "shared TLS configuration unavailable; using reqwest's");
            builder
        }
    }
    .build()
}

/// How a call that got no HTTP answer failed.
pub(crate) enum TransportFailure {
    /// No connection could be made (refused, or timed out connecting): unreachable, a 502.
    Connect,
    /// Connected, then waited past the request timeout: a 504.
    Timeout,
    /// Anything else on the wire: a 502.
    Other,
}

impl From<&reqwest::Error> for TransportFailure {
    fn from(e: &reqwest::Error) -> Self {
        if e.is_connect() {
            Self::Connect
        } else if e.is_timeout() {
            Self::Timeout
        } else {
            Self::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_third_party_client_builds_on_the_shared_roots() {
        assert!(tls_config().is_ok());
        assert!(third_party_client(Duration::from_millis(100)).is_ok());
    }
}
