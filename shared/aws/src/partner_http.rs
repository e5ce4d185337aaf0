//! Banking partners over HTTP: each partner's cheapest real authenticating call, in its own shape.
//!
//! | partner | call |
//! |---|---|
//! | Celcoin | `POST /v5/token`, form `client_id`, `client_secret`, `grant_type=client_credentials` |
//! | BTG | `POST /oauth2/token`, Basic `client_id:key`, form `grant_type=client_credentials` (+`scope`) |
//! | JDPI | `POST /auth/jdpi/connect/token`, form `client_id`, `client_secret`, `grant_type`, `scope` |
//! | Pay2all | `POST /api/v1/login`, JSON `{"username", "password"}` |
//!
//! To test a key (create-credential), the answer is read for its status only: the body (which may
//! hold an access token) is dropped unread. To use a key (the gateway), the token and its
//! `expires_in` are kept in a [`SecretString`], and calls carry it as `Authorization: Bearer`.
//! No body, token or key is ever logged.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Client, RequestBuilder, Url};

use super::outbound_http::{TransportFailure, third_party_client};

use cofre_domain::credentials::{CredentialRequest, PartnerAuthenticator, PartnerError, PartnerLogin, Provider};
use cofre_domain::endpoints::Endpoint;
use cofre_domain::gateway::{AccessToken, MAX_RESPONSE_BODY, PartnerApi, PartnerRequest, PartnerResponse};
use cofre_domain::secret::SecretString;

/// The most of a token answer read.
const MAX_TOKEN_BODY: usize = 16 * 1024;
/// A token's life when the partner does not say (Pay2all's login answer has no `expires_in`).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);
/// The longest a token is kept, whatever the partner says.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

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

impl HttpPartnerClient {
    /// The partner's token call for `login`, in the partner's own shape.
    fn token_request(&self, endpoint: &Endpoint, login: PartnerLogin<'_>) -> RequestBuilder {
        let key = login.key.expose().as_str();
        let builder = match login.provider {
            Provider::Celcoin => self.client.post(Self::url(endpoint, "/v5/token")).form(&[
                ("client_id", login.field("client_id")),
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
                    .basic_auth(login.field("client_id"), Some(key))
                    .form(&form)
            }
            Provider::Jdpi => self.client.post(Self::url(endpoint, "/auth/jdpi/connect/token")).form(&[
                ("client_id", login.field("client_id")),
                ("client_secret", key),
                ("grant_type", "client_credentials"),
                ("scope", endpoint.scope.as_deref().unwrap_or(JDPI_DEFAULT_SCOPE)),
            ]),
            Provider::Pay2all => self
                .client
                .post(Self::url(endpoint, "/api/v1/login"))
                .json(&serde_json::json!({ "username": login.field("username"), "password": key })),
        };
        builder.timeout(endpoint.timeout())
    }
}

/// Reads at most `limit` bytes of a body; `None` if it is longer.
async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// The token and its life from an OAuth2 token answer (`access_token`, `expires_in`) or a login
/// answer (`token`), wiping the body it was read from.
fn parse_token(mut body: Vec<u8>) -> Result<AccessToken, PartnerError> {
    let parsed = serde_json::from_slice::<serde_json::Value>(&body).ok();
    zeroize::Zeroize::zeroize(&mut body);
    let mut value = parsed.ok_or_else(|| PartnerError::Unavailable("token answer is not JSON".into()))?;
    let lifetime = match value.get("expires_in") {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .map_or(DEFAULT_TOKEN_LIFETIME, |secs| Duration::from_secs(secs.max(1)).min(MAX_TOKEN_LIFETIME));
    let token = ["access_token", "token"]
        .into_iter()
        .find_map(|name| match value.get_mut(name).map(serde_json::Value::take) {
            Some(serde_json::Value::String(token))
                if !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Some(token)
            }
            _ => None,
        })
        .ok_or_else(|| PartnerError::Unavailable("token answer has no usable access_token".into()))?;
    Ok(AccessToken { value: SecretString::new(token), lifetime })
}

/// The URL of `path` under `endpoint`'s API base, refused unless it stays on the base's origin and
/// under its path: the second line behind the gateway's own path checks.
fn partner_url(endpoint: &Endpoint, path: &str, query: Option<&str>) -> Result<Url, PartnerError> {
    let refused = || PartnerError::Unavailable("partner URL would leave the configured base".into());
    let base = Url::parse(endpoint.api_base()).map_err(|_| refused())?;
    let mut url = Url::parse(&format!("{}{path}", endpoint.api_base().trim_end_matches('/'))).map_err(|_| refused())?;
    let base_path = base.path().trim_end_matches('/');
    let stays = url.origin() == base.origin()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path().starts_with(base_path)
        && url.path()[base_path.len()..].starts_with('/');
    if !stays {
        return Err(refused());
    }
    url.set_query(query);
    url.set_fragment(None);
    Ok(url)
}

#[async_trait]
impl PartnerAuthenticator for HttpPartnerClient {
    async fn authenticate(&self, endpoint: &Endpoint, request: &CredentialRequest) -> Result<(), PartnerError> {
        let response = self.token_request(endpoint, request.into()).send().await.map_err(|e| transport(&e))?;
        classify(response, request.provider != Provider::Pay2all).await
    }
}

#[async_trait]
impl PartnerApi for HttpPartnerClient {
    async fn issue_token(&self, endpoint: &Endpoint, login: PartnerLogin<'_>) -> Result<AccessToken, PartnerError> {
        let response = self.token_request(endpoint, login).send().await.map_err(|e| transport(&e))?;
        if !response.status().is_success() {
            return classify(response, login.provider != Provider::Pay2all)
                .await
                .and(Err(PartnerError::Unavailable("partner answered without a token".into())));
        }
        let body = read_capped(response, MAX_TOKEN_BODY)
            .await
            .map_err(|e| transport(&e))?
            .ok_or_else(|| PartnerError::Unavailable("token answer too large".into()))?;
        parse_token(body)
    }

    async fn forward(
        &self,
        endpoint: &Endpoint,
        token: &SecretString,
        request: &PartnerRequest,
    ) -> Result<PartnerResponse, PartnerError> {
        let url = partner_url(endpoint, &request.path, request.query.as_deref())?;
        let mut builder = self.client.request(request.method.clone(), url).timeout(endpoint.timeout());
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let response =
            builder.bearer_auth(token.expose()).body(request.body.clone()).send().await.map_err(|e| transport(&e))?;
        let status = response.status().as_u16();
        let headers = response.headers().iter().map(|(n, v)| (n.clone(), v.clone())).collect();
        let body = read_capped(response, MAX_RESPONSE_BODY)
            .await
            .map_err(|e| transport(&e))?
            .ok_or_else(|| PartnerError::Unavailable("partner answer over 1 MiB".into()))?;
        Ok(PartnerResponse { status, headers, body: body.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(base_url: &str) -> Endpoint {
        serde_json::from_value(serde_json::json!({ "base_url": base_url })).unwrap()
    }

    #[test]
    fn token_answers_keep_the_token_and_its_life_within_bounds() {
        let t = parse_token(br#"{"access_token":"abc","token_type":"Bearer","expires_in":600}"#.to_vec()).unwrap();
        assert_eq!((t.value.expose().as_str(), t.lifetime), ("abc", Duration::from_secs(600)));
        let t = parse_token(br#"{"token":"p2a","expires_in":"99999999"}"#.to_vec()).unwrap();
        assert_eq!((t.value.expose().as_str(), t.lifetime), ("p2a", MAX_TOKEN_LIFETIME));
        assert_eq!(parse_token(br#"{"access_token":"x"}"#.to_vec()).unwrap().lifetime, DEFAULT_TOKEN_LIFETIME);
        for bad in [&br#"{"access_token":""}"#[..], br#"{"access_token":"a b"}"#, br#"{"expires_in":1}"#, b"<html>"] {
            assert!(parse_token(bad.to_vec()).is_err());
        }
    }

    #[test]
    fn partner_urls_stay_under_the_base() {
        let e = endpoint("https://api.partner.example/base");
        let url = partner_url(&e, "/pix/v1/transfers", Some("a=1")).unwrap();
        assert_eq!(url.as_str(), "https://api.partner.example/base/pix/v1/transfers?a=1");
        let split: Endpoint = serde_json::from_value(
            serde_json::json!({ "base_url": "https://id.partner.example", "api_base_url": "https://api.partner.example" }),
        )
        .unwrap();
        assert_eq!(partner_url(&split, "/pix", None).unwrap().as_str(), "https://api.partner.example/pix");
        for path in ["/../admin", "/%2e%2e/admin", "@evil.example/x", ".evil.example/x", "/..\\x"] {
            assert!(partner_url(&e, path, None).is_err(), "{path}");
        }
    }
}
