//! Banking partners over HTTP: each partner's cheapest real authenticating call, in its own shape.
//!
//! | partner | call |
//! |---|---|
//! | Celcoin | `POST /v5/token`, form `client_id`, `client_secret`, `grant_type=client_credentials` |
//! | BTG | `POST /oauth2/token`, Basic `client_id:key`, form `grant_type=client_credentials` (+`scope`) |
//! | JDPI | `POST /auth/jdpi/connect/token`, form `client_id`, `client_secret`, `grant_type`, `scope` |
//! | Pay2all | `POST /api/v1/login`, JSON `{"username", "password"}` |
//!
//! Whatever the partner answers is read for its status only: the body (which may hold an access
//! token) is dropped unread and never logged.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::Client;

use super::outbound_http::{TransportFailure, third_party_client};

use crate::credentials::{CredentialRequest, PartnerAuthenticator, PartnerError, Provider};
use crate::endpoints::Endpoint;

/// JDPI's scopes when the configuration names none.
const JDPI_DEFAULT_SCOPE: &str = "dict_api spi_api qrcode_api";

/// An HTTP client for every partner, built once per execution environment.
#[derive(Debug, Clone)]
pub struct HttpPartnerClient {
    client: Client,
}

impl HttpPartnerClient {
    /// A client that never follows redirects (a credential is never re-sent to a host we did not
    /// configure) and gives up connecting after `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(Self { client: third_party_client(connect_timeout)? })
    }

    fn url(endpoint: &Endpoint, default_path: &str) -> String {
        let path = endpoint.token_path.as_deref().unwrap_or(default_path);
        format!("{}{}", endpoint.base_url.trim_end_matches('/'), path)
    }
}

/// OAuth2 error codes (RFC 6749 §5.2) that mean "this credential is wrong"; any other 400 is a
/// problem of the request we built or of the partner, not of the tenant's key.
const CREDENTIAL_ERRORS: [&str; 3] = ["invalid_client", "unauthorized_client", "invalid_grant"];

/// The most of an error body read to find its OAuth `error` code. It is never logged.
const MAX_ERROR_BODY: usize = 4 * 1024;

async fn classify(response: reqwest::Response, oauth: bool) -> Result<(), PartnerError> {
    match response.status().as_u16() {
        200..=299 => Ok(()),
        401 | 403 => Err(PartnerError::Rejected),
        400 if !oauth => Err(PartnerError::Rejected),
        400 => {
            let body = response.bytes().await.unwrap_or_default();
            let code = serde_json::from_slice::<serde_json::Value>(&body[..body.len().min(MAX_ERROR_BODY)])
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned));
            match code.as_deref() {
                Some(code) if CREDENTIAL_ERRORS.contains(&code) => Err(PartnerError::Rejected),
                // Only a known OAuth code is named; a free-form body never reaches a log.
                Some(code) if code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') && code.len() <= 32 => {
                    Err(PartnerError::Unavailable(format!("partner answered HTTP 400 {code}")))
                }
                _ => Err(PartnerError::Unavailable("partner answered HTTP 400".into())),
            }
        }
        code => Err(PartnerError::Unavailable(format!("partner answered HTTP {code}"))),
    }
}

fn transport(e: &reqwest::Error) -> PartnerError {
    match TransportFailure::from(e) {
        TransportFailure::Connect => PartnerError::Unavailable("connection failed".into()),
        TransportFailure::Timeout => PartnerError::Timeout,
        TransportFailure::Other => PartnerError::Unavailable("transport error".into()),
    }
}

#[async_trait]
impl PartnerAuthenticator for HttpPartnerClient {
    async fn authenticate(&self, endpoint: &Endpoint, request: &CredentialRequest) -> Result<(), PartnerError> {
        let key = request.key.expose().as_str();
        let builder = match request.provider {
            Provider::Celcoin => self.client.post(Self::url(endpoint, "/v5/token")).form(&[
                ("client_id", request.provider_field("client_id")),
                ("client_secret", key),
                ("grant_type", "client_credentials"),
            ]),
            Provider::Btg => {
                let mut form = vec![("grant_type", "client_credentials")];
                if let Some(scope) = endpoint.scope.as_deref() {
                    form.push(("scope", scope));
                }
                self.client
                    .post(Self::url(endpoint, "/oauth2/token"))
                    .basic_auth(request.provider_field("client_id"), Some(key))
                    .form(&form)
            }
            Provider::Jdpi => self.client.post(Self::url(endpoint, "/auth/jdpi/connect/token")).form(&[
                ("client_id", request.provider_field("client_id")),
                ("client_secret", key),
                ("grant_type", "client_credentials"),
                ("scope", endpoint.scope.as_deref().unwrap_or(JDPI_DEFAULT_SCOPE)),
            ]),
            Provider::Pay2all => self
                .client
                .post(Self::url(endpoint, "/api/v1/login"))
                .json(&serde_json::json!({ "username": request.provider_field("username"), "password": key })),
        };
        let response = builder.timeout(endpoint.timeout()).send().await.map_err(|e| transport(&e))?;
        classify(response, request.provider != Provider::Pay2all).await
    }
}
