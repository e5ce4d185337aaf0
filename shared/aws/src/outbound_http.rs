//! What the partner and processor clients share: how the HTTP client is built, and how a transport
//! failure is told apart.

use std::time::Duration;

use reqwest::Client;

/// An HTTP client for third parties, built once per execution environment. It never follows
/// redirects (a credential is never re-sent to a host we did not configure) and gives up connecting
/// after `connect_timeout`.
pub(crate) fn third_party_client(connect_timeout: Duration) -> Result<Client, reqwest::Error> {
    Client::builder()
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("cofre/", env!("CARGO_PKG_VERSION")))
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
