//! Card processors over HTTP: each one's cheapest real authenticating call, in its own API's shape.
//!
//! | processor | call | refusal |
//! |---|---|---|
//! | Stripe, StripeConnect | `GET /v1/account`, Basic `secret:` (`key:` for Connect) | 401 |
//! | AffiniPay | `GET /v1/merchant`, Basic `secret:` | 401 |
//! | Authorize.Net | `POST /xml/v1/request.api` `authenticateTestRequest` | 200 `resultCode: Error`, `E00007`/`E00008` |
//! | Braintree | `POST /graphql` `query { ping }`, Basic `key:secret`, `Braintree-Version` | 401 |
//! | NMI | `POST /api/query.php`, form `security_key` | 200 `Authentication Failed` |
//! | Adyen | `POST /v71/paymentMethods` `{merchantAccount: mid}`, `X-API-Key` | 401/403 |
//! | Square | `GET /v2/merchants/me`, Bearer `key`, `Square-Version` | 401 |
//! | CardPointe | `GET /cardconnect/rest/inquireMerchant/{mid}`, Basic `key:secret` | 401 |
//!
//! Bodies are read only where the processor answers a refusal with a 200 (Authorize.Net, NMI), at
//! most 64 KiB, and never logged.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Client, Response};

use super::outbound_http::{TransportFailure, third_party_client};
use serde_json::json;

use cofre_domain::endpoints::Endpoint;
use cofre_domain::merchants::{ConnectionCredentials, CredentialField, Processor, ProcessorError, ProcessorValidator};

/// The Braintree GraphQL API version sent with every call.
const BRAINTREE_VERSION: &str = "2019-01-01";
/// The Square API version sent with every call.
const SQUARE_VERSION: &str = "2024-01-18";
/// The most of a body read to classify it.
const MAX_BODY: usize = 64 * 1024;

/// An HTTP client for every processor, built once per execution environment.
#[derive(Debug, Clone)]
pub struct HttpProcessorClient {
    client: Client,
}

impl HttpProcessorClient {
    /// A client that never follows redirects and gives up connecting after `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(Self { client: third_party_client(connect_timeout)? })
    }
}

fn url(endpoint: &Endpoint, default_path: &str) -> String {
    format!("{}{}", endpoint.base_url.trim_end_matches('/'), endpoint.token_path.as_deref().unwrap_or(default_path))
}

fn transport(e: &reqwest::Error) -> ProcessorError {
    match TransportFailure::from(e) {
        TransportFailure::Connect => ProcessorError::Unavailable("connection failed".into()),
        TransportFailure::Timeout => ProcessorError::Timeout,
        TransportFailure::Other => ProcessorError::Unavailable("transport error".into()),
    }
}

/// A header value that HTTP tooling (and hyper's own tracing) treats as secret.
fn sensitive(value: &str) -> Result<reqwest::header::HeaderValue, ProcessorError> {
    let mut header = reqwest::header::HeaderValue::from_str(value).map_err(|_| ProcessorError::Rejected)?;
    header.set_sensitive(true);
    Ok(header)
}

/// A credential used as a URL path segment: only characters that need no escaping, so the value can
/// neither change the path nor be logged as part of a mangled one. Anything else cannot be valid.
fn path_segment(value: &str) -> Result<&str, ProcessorError> {
    let plain = !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain { Ok(value) } else { Err(ProcessorError::Rejected) }
}

/// Reads at most [`MAX_BODY`] bytes of a body.
async fn body(mut response: Response) -> Result<Vec<u8>, ProcessorError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(&e))? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() >= MAX_BODY {
            break;
        }
    }
    Ok(bytes)
}

/// Authorize.Net codes that mean the credentials cannot be used: `E00007` invalid login or key,
/// `E00008` inactive account or API user.
const AUTHORIZE_NET_REFUSALS: [&str; 2] = ["E00007", "E00008"];

/// Authorize.Net answers HTTP 200 either way: `resultCode` says, and the message code says why.
fn authorize_net_outcome(body: &[u8]) -> Result<(), ProcessorError> {
    let body = body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body);
    let parsed: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| ProcessorError::Unavailable("unreadable Authorize.Net answer".into()))?;
    let messages = &parsed["messages"];
    match messages["resultCode"].as_str() {
        Some("Ok") => Ok(()),
        Some("Error")
            if messages["message"].as_array().is_some_and(|m| {
                m.iter().any(|m| m["code"].as_str().is_some_and(|c| AUTHORIZE_NET_REFUSALS.contains(&c)))
            }) =>
        {
            Err(ProcessorError::Rejected)
        }
        _ => Err(ProcessorError::Unavailable("Authorize.Net answered an error".into())),
    }
}

/// NMI answers HTTP 200 either way: a refused key is `<error_response>Authentication Failed…`.
fn nmi_outcome(body: &[u8]) -> Result<(), ProcessorError> {
    let text = String::from_utf8_lossy(body);
    if text.contains("<error_response>") {
        if text.contains("Authentication Failed") {
            Err(ProcessorError::Rejected)
        } else {
            Err(ProcessorError::Unavailable("NMI answered an error".into()))
        }
    } else {
        Ok(())
    }
}

#[async_trait]
impl ProcessorValidator for HttpProcessorClient {
    async fn validate(
        &self,
        processor: Processor,
        endpoint: &Endpoint,
        credentials: &ConnectionCredentials,
    ) -> Result<(), ProcessorError> {
        let (key, secret, mid) = (
            credentials.text(CredentialField::Key),
            credentials.text(CredentialField::Secret),
            credentials.text(CredentialField::Mid),
        );
        let c = &self.client;
        let request = match processor {
            Processor::Stripe => c.get(url(endpoint, "/v1/account")).basic_auth(secret, Some("")),
            Processor::StripeConnect => c.get(url(endpoint, "/v1/account")).basic_auth(key, Some("")),
            Processor::AffiniPay => c.get(url(endpoint, "/v1/merchant")).basic_auth(secret, Some("")),
            Processor::AuthorizeNet => c.post(url(endpoint, "/xml/v1/request.api")).json(&json!({
                "authenticateTestRequest": { "merchantAuthentication": { "name": key, "transactionKey": secret } }
            })),
            Processor::Braintree => c
                .post(url(endpoint, "/graphql"))
                .basic_auth(key, Some(secret))
                .header("Braintree-Version", BRAINTREE_VERSION)
                .json(&json!({ "query": "query { ping }" })),
            Processor::Nmi => c.post(url(endpoint, "/api/query.php")).form(&[
                ("security_key", secret),
                ("result_limit", "1"),
                ("page_number", "0"),
            ]),
            Processor::Adyen => c
                .post(url(endpoint, "/v71/paymentMethods"))
                .header("X-API-Key", sensitive(key)?)
                .json(&json!({ "merchantAccount": mid })),
            Processor::Square => {
                c.get(url(endpoint, "/v2/merchants/me")).bearer_auth(key).header("Square-Version", SQUARE_VERSION)
            }
            // `inquireMerchant` authenticates the API user and checks the merchant id in one call.
            Processor::CardPointe => {
                let base = url(endpoint, "/cardconnect/rest");
                c.get(format!("{}/inquireMerchant/{}", base.trim_end_matches('/'), path_segment(mid)?))
                    .basic_auth(key, Some(secret))
            }
        };
        let response = request.timeout(endpoint.timeout()).send().await.map_err(|e| transport(&e))?;
        match response.status().as_u16() {
            200..=299 => match processor {
                Processor::AuthorizeNet => authorize_net_outcome(&body(response).await?),
                Processor::Nmi => nmi_outcome(&body(response).await?),
                _ => Ok(()),
            },
            401 | 403 => Err(ProcessorError::Rejected),
            code => Err(ProcessorError::Unavailable(format!("processor answered HTTP {code}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_net_and_nmi_refusals_hide_in_200_answers() {
        let ok = "\u{feff}{\"messages\":{\"resultCode\":\"Ok\",\"message\":[{\"code\":\"I00001\",\"text\":\"Successful.\"}]}}";
        let refused = "\u{feff}{\"messages\":{\"resultCode\":\"Error\",\"message\":[{\"code\":\"E00007\",\"text\":\"User authentication failed due to invalid authentication values.\"}]}}";
        let other = "{\"messages\":{\"resultCode\":\"Error\",\"message\":[{\"code\":\"E00001\",\"text\":\"An error occurred.\"}]}}";
        assert!(authorize_net_outcome(ok.as_bytes()).is_ok());
        assert!(matches!(authorize_net_outcome(refused.as_bytes()), Err(ProcessorError::Rejected)));
        assert!(matches!(authorize_net_outcome(other.as_bytes()), Err(ProcessorError::Unavailable(_))));
        assert!(matches!(authorize_net_outcome(b"<html>"), Err(ProcessorError::Unavailable(_))));
        assert!(nmi_outcome(b"<nm_response></nm_response>").is_ok());
        assert!(matches!(
            nmi_outcome(b"<error_response>Authentication Failed</error_response>"),
            Err(ProcessorError::Rejected)
        ));
        assert!(matches!(nmi_outcome(b"<error_response>Other</error_response>"), Err(ProcessorError::Unavailable(_))));
    }
}
