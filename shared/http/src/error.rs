//! The one place domain errors become HTTP responses: status, documented code, documented message.
//! Each API keeps its source's error shape: Pismo's `{code, message}` for banking credentials,
//! Preczn's `{statusCode, message, error}` for merchant connections.
//!
//! Server-side failures are logged here with their internal detail (which never holds a secret) and
//! answered with the documented, detail-free message. Every status, code and message comes from the
//! tables in [`codes`], which a test holds `openapi.yaml` and the docs to.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;

use cofre_domain::authorizations::AuthorizationError;
use cofre_domain::credentials::CredentialError;
use cofre_domain::gateway::GatewayError;
use cofre_domain::merchants::ConnectionError;

pub(crate) mod codes;
#[cfg(test)]
mod contract;

use codes::{ErrorCode, PrecznAnswer};

/// The caller could not be identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token was presented.
    #[error("no bearer token")]
    Missing,
    /// A token was presented but is not valid (signature, expiry, claims).
    #[error("invalid bearer token")]
    Invalid,
}

/// Pismo's error body: `{"code", "message", "details"?}`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ApiErrorBody {
    /// The documented code, e.g. `EBAA0005`.
    pub code: &'static str,
    /// The documented message.
    pub message: String,
    /// What exactly was wrong with the input, for 4xx answers only; never a value the caller sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

fn respond(status: StatusCode, body: ApiErrorBody) -> Response {
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
    }
    response
}

/// An error answered with its documented status, code and message (Pismo's `{code, message}` shape).
pub trait Documented {
    /// The documented status, code and message.
    fn status_code_message(&self) -> (StatusCode, &'static str, String);
}

/// An error answered with its documented status and message (Preczn's shape).
pub trait PrecznDocumented {
    /// The documented status and message.
    fn status_message(&self) -> (StatusCode, String);
}

/// A domain error on its way out as a response: the one conversion from each area's error enum to
/// HTTP lives in this module.
#[derive(Debug)]
pub struct Refusal<E>(pub E);

/// Logs a refusal (warn) or a failure (error, with its internal cause) and answers Pismo's shape.
fn refuse(
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<String>,
    error: &dyn std::fmt::Display,
) -> Response {
    if status.is_server_error() {
        tracing::error!(code, error = %error, "request failed");
    } else {
        tracing::warn!(code, error = %error, "request refused");
    }
    respond(status, ApiErrorBody { code, message, details })
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        tracing::warn!(reason = %self, "request not authenticated");
        let entry = &codes::UNAUTHORIZED;
        respond(entry.status, ApiErrorBody { code: entry.code, message: entry.message_with(&[]), details: None })
    }
}

/// An entry's status and code, and its message filled with `parts`.
fn answer(entry: &'static ErrorCode, parts: &[&str]) -> (StatusCode, &'static str, String) {
    (entry.status, entry.code, entry.message_with(parts))
}

impl Documented for CredentialError {
    fn status_code_message(&self) -> (StatusCode, &'static str, String) {
        use codes::credentials as C;
        match self {
            Self::InvalidPayload { .. } => answer(&C::INVALID_PAYLOAD, &[]),
            Self::MissingFields(fields) => answer(&C::MISSING_FIELDS, &[&fields.join(", ")]),
            Self::UnsupportedPair { credential_type, provider } => {
                answer(&C::UNSUPPORTED_PAIR, &[credential_type, provider])
            }
            Self::PartnerConfigNotFound(p) => answer(&C::PARTNER_CONFIG_NOT_FOUND, &[p.as_str()]),
            Self::InvalidCredential(p) => answer(&C::INVALID_CREDENTIAL, &[p.as_str()]),
            Self::PartnerUnavailable { .. } => answer(&C::PARTNER_UNAVAILABLE, &[]),
            Self::PartnerTimeout(_) => answer(&C::PARTNER_TIMEOUT, &[]),
            Self::EncryptionMismatch => answer(&C::ENCRYPTION_MISMATCH, &[]),
            Self::Crypto(_) => answer(&C::CRYPTO, &[]),
            Self::Save(_) => answer(&C::SAVE, &[]),
            Self::NotFound => answer(&C::NOT_FOUND, &[]),
            Self::Get(_) => answer(&C::GET, &[]),
        }
    }
}

/// The gateway's table entry for each error. `GatewayError::code` (what the audit of a failed use
/// records) names the same code: a test holds the two equal.
impl Documented for GatewayError {
    fn status_code_message(&self) -> (StatusCode, &'static str, String) {
        use codes::{credentials as C, gateway as G};
        match self {
            Self::NotFound => answer(&G::NOT_FOUND, &[]),
            Self::InvalidPath(_) => answer(&G::INVALID_PATH, &[]),
            Self::NotAllowed => answer(&G::NOT_ALLOWED, &[]),
            Self::BodyTooLarge => answer(&G::BODY_TOO_LARGE, &[]),
            Self::SessionRejected(p) => answer(&G::SESSION_REJECTED, &[p.as_str()]),
            Self::CredentialRejected(p) => answer(&G::CREDENTIAL_REJECTED, &[p.as_str()]),
            Self::PartnerConfigNotFound(p) => answer(&C::PARTNER_CONFIG_NOT_FOUND, &[p.as_str()]),
            Self::PartnerUnavailable { .. } => answer(&C::PARTNER_UNAVAILABLE, &[]),
            Self::PartnerTimeout(_) => answer(&C::PARTNER_TIMEOUT, &[]),
            Self::Crypto(_) => answer(&C::CRYPTO, &[]),
            Self::Get(_) => answer(&C::GET, &[]),
            Self::Save(_) => answer(&C::SAVE, &[]),
        }
    }
}

impl IntoResponse for Refusal<GatewayError> {
    fn into_response(self) -> Response {
        let (status, code, message) = self.0.status_code_message();
        let details = match &self.0 {
            GatewayError::InvalidPath(why) => Some((*why).to_owned()),
            _ => None,
        };
        refuse(status, code, message, details, &self.0)
    }
}

impl IntoResponse for Refusal<CredentialError> {
    fn into_response(self) -> Response {
        let (status, code, message) = self.0.status_code_message();
        let details = match &self.0 {
            CredentialError::InvalidPayload { detail } => Some(detail.clone()),
            _ => None,
        };
        refuse(status, code, message, details, &self.0)
    }
}

/// Preczn's error body.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrecznErrorBody {
    /// The HTTP status, repeated.
    pub status_code: u16,
    /// The documented message.
    pub message: String,
    /// The status's reason phrase (`Bad Request`, `Conflict`…).
    pub error: String,
}

impl PrecznDocumented for ConnectionError {
    fn status_message(&self) -> (StatusCode, String) {
        use codes::merchants as M;
        let answer = |entry: &PrecznAnswer, parts: &[&str]| (entry.status, entry.message_with(parts));
        match self {
            Self::Unauthorized => answer(&M::UNAUTHORIZED, &[]),
            Self::InvalidRequest(message) => answer(&M::INVALID_REQUEST, &[message]),
            Self::NotFound => answer(&M::NOT_FOUND, &[]),
            Self::MissingFields { processor, fields } => {
                let fields: Vec<_> = fields.iter().map(|f| f.as_str()).collect();
                answer(&M::MISSING_FIELDS, &[processor.as_str(), &fields.join(", ")])
            }
            Self::CredentialsExist => answer(&M::CREDENTIALS_EXIST, &[]),
            Self::ExistingMismatch => answer(&M::EXISTING_MISMATCH, &[]),
            Self::ProofLocked { retry_after } => answer(&M::PROOF_LOCKED, &[&retry_after.as_secs().to_string()]),
            Self::InvalidCredentials => answer(&M::INVALID_CREDENTIALS, &[]),
            Self::ProcessorUnavailable(_) => answer(&M::PROCESSOR_UNAVAILABLE, &[]),
            Self::ProcessorTimeout => answer(&M::PROCESSOR_TIMEOUT, &[]),
            Self::ProcessorConfigNotFound(_) | Self::Crypto(_) | Self::UnknownHmacKey(_) | Self::Store(_) => {
                answer(&M::INTERNAL, &[])
            }
        }
    }
}

impl IntoResponse for Refusal<ConnectionError> {
    fn into_response(self) -> Response {
        let (status, message) = self.0.status_message();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %self.0, "request failed");
        } else {
            tracing::warn!(status = status.as_u16(), error = %self.0, "request refused");
        }
        let body = PrecznErrorBody {
            status_code: status.as_u16(),
            message,
            error: status.canonical_reason().unwrap_or("Error").to_owned(),
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
        }
        if let ConnectionError::ProofLocked { retry_after } = &self.0 {
            response.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from(retry_after.as_secs()));
        }
        response
    }
}

impl Documented for AuthorizationError {
    fn status_code_message(&self) -> (StatusCode, &'static str, String) {
        use codes::authorizations as A;
        match self {
            Self::Unauthorized => answer(&codes::UNAUTHORIZED, &[]),
            Self::Invalid { code, message } => answer(A::refusal(*code), &[message]),
            Self::Forbidden => answer(&A::FORBIDDEN, &[]),
            Self::ForcedConfirmationForbidden => answer(&A::FORBIDDEN_FORCED_CONFIRMATION, &[]),
            Self::InProgress => answer(&A::IN_PROGRESS, &[]),
            Self::NotFound => answer(&A::AUTHORIZATION_NOT_FOUND, &[]),
            Self::AccountNotFound => answer(&A::ACCOUNT_NOT_FOUND, &[]),
            Self::Internal(_) => answer(&A::INTERNAL_ERROR, &[]),
        }
    }
}

impl IntoResponse for Refusal<AuthorizationError> {
    fn into_response(self) -> Response {
        let (status, code, message) = self.0.status_code_message();
        refuse(status, code, message, None, &self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cofre_domain::credentials::Provider;

    #[test]
    fn every_credential_error_maps_to_its_documented_status_code_and_message() {
        let cases: Vec<(CredentialError, u16, &str, &str)> = vec![
            (CredentialError::InvalidPayload { detail: "x".into() }, 400, "EBAA0004", "Invalid payload"),
            (
                CredentialError::MissingFields(vec!["key".into(), "provider_data.client_id".into()]),
                400,
                "EBAA0005",
                "Invalid payload. Required fields: [key, provider_data.client_id]",
            ),
            (
                CredentialError::UnsupportedPair { credential_type: "BAAS".into(), provider: "JDPI".into() },
                400,
                "EBAA0007",
                "Unsupported Type: (BAAS) and Provider (JDPI)",
            ),
            (
                CredentialError::PartnerConfigNotFound(Provider::Btg),
                500,
                "EBAA0014",
                "BTG - API configuration not found",
            ),
            (
                CredentialError::InvalidCredential(Provider::Celcoin),
                400,
                "EBAA0018",
                "CELCOIN - API Invalid credential",
            ),
            (
                CredentialError::PartnerUnavailable { provider: Provider::Jdpi, reason: "503".into() },
                502,
                "EBAA0002",
                "Bad Gateway Error",
            ),
            (CredentialError::PartnerTimeout(Provider::Pay2all), 504, "EBAA0003", "Gateway Timeout"),
            (
                CredentialError::EncryptionMismatch,
                500,
                "EBAA0009",
                "Encrypted value error. Decrypt returned different value",
            ),
            (
                CredentialError::Crypto("x".into()),
                500,
                "EBAA0010",
                "Cryptography Decrypt error. Check logs for more details",
            ),
            (
                CredentialError::Save("x".into()),
                500,
                "EBAA0011",
                "Credential Repository Save config error. Check logs for more details",
            ),
            (CredentialError::NotFound, 404, "EBAA0101", "Credential not found"),
            (
                CredentialError::Get("x".into()),
                500,
                "EBAA0012",
                "Credential Repository Get config error. Check logs for more details",
            ),
        ];
        for (error, status, code, message) in cases {
            let (s, c, m) = error.status_code_message();
            assert_eq!((s.as_u16(), c, m.as_str()), (status, code, message));
            assert!(codes::credentials::ALL.iter().any(|e| (e.status, e.code) == (s, c)), "{c}");
        }
    }

    #[test]
    fn every_gateway_error_maps_to_its_documented_status_code_and_message() {
        let p = Provider::Btg;
        let unavailable = GatewayError::PartnerUnavailable { provider: p, reason: "x".into() };
        let cases: Vec<(GatewayError, u16, &str, &str)> = vec![
            (GatewayError::NotFound, 404, "EBAA0101", "Credential not found"),
            (GatewayError::InvalidPath("x"), 400, "EBAA0102", "Invalid partner path"),
            (GatewayError::NotAllowed, 403, "EBAA0103", "Operation not allowed for this credential"),
            (GatewayError::SessionRejected(p), 502, "EBAA0104", "BTG - Partner refused a fresh access token"),
            (GatewayError::BodyTooLarge, 413, "EBAA0105", "Request body too large (64 KiB at most)"),
            (GatewayError::PartnerConfigNotFound(p), 500, "EBAA0014", "BTG - API configuration not found"),
            (GatewayError::CredentialRejected(p), 422, "EBAA0018", "BTG - API Invalid credential"),
            (unavailable, 502, "EBAA0002", "Bad Gateway Error"),
            (GatewayError::PartnerTimeout(p), 504, "EBAA0003", "Gateway Timeout"),
            (
                GatewayError::Crypto("x".into()),
                500,
                "EBAA0010",
                "Cryptography Decrypt error. Check logs for more details",
            ),
            (
                GatewayError::Get("x".into()),
                500,
                "EBAA0012",
                "Credential Repository Get config error. Check logs for more details",
            ),
            (
                GatewayError::Save("x".into()),
                500,
                "EBAA0011",
                "Credential Repository Save config error. Check logs for more details",
            ),
        ];
        for (error, status, code, message) in cases {
            let (s, c, m) = error.status_code_message();
            assert_eq!((s.as_u16(), c, m.as_str()), (status, code, message));
            assert!(codes::gateway::ALL.iter().any(|e| (e.status, e.code) == (s, c)), "{c}");
            assert_eq!(c, error.code(), "the audit of a failed use records the code answered");
        }
    }

    #[test]
    fn every_connection_error_maps_to_its_documented_status_and_message() {
        use cofre_domain::merchants::{CredentialField, Processor};
        let cases: Vec<(ConnectionError, u16, &str)> = vec![
            (ConnectionError::Unauthorized, 401, "Unauthorized"),
            (ConnectionError::InvalidRequest("secret must be a string".into()), 400, "secret must be a string"),
            (ConnectionError::NotFound, 404, "Merchant connection not found"),
            (
                ConnectionError::MissingFields {
                    processor: Processor::AuthorizeNet,
                    fields: vec![CredentialField::Key, CredentialField::Secret],
                },
                400,
                "Authorize.Net requires fields: key, secret",
            ),
            (
                ConnectionError::CredentialsExist,
                400,
                "Credentials already exist for this connection. Please update via Dashboard",
            ),
            (
                ConnectionError::ExistingMismatch,
                409,
                "The credentials passed in 'existingCredentials' do not match those on file. No updates have been made.",
            ),
            (
                ConnectionError::ProofLocked { retry_after: std::time::Duration::from_secs(60) },
                429,
                "Too many failed attempts to prove the credentials on file. Retry after 60 seconds. No updates have \
                 been made.",
            ),
            (
                ConnectionError::InvalidCredentials,
                400,
                "Invalid connection credentials. Please update credentials and submit again.",
            ),
            (
                ConnectionError::ProcessorUnavailable("x".into()),
                502,
                "The processor could not be reached. No updates have been made.",
            ),
            (
                ConnectionError::ProcessorTimeout,
                504,
                "The processor did not respond in time. No updates have been made.",
            ),
            (
                ConnectionError::ProcessorConfigNotFound(Processor::Nmi),
                500,
                "Internal server error. No updates have been made.",
            ),
            (ConnectionError::Crypto("x".into()), 500, "Internal server error. No updates have been made."),
            (
                ConnectionError::UnknownHmacKey(cofre_domain::crypto::UnknownHmacKey(
                    cofre_domain::crypto::HmacKeyId::legacy(),
                )),
                500,
                "Internal server error. No updates have been made.",
            ),
            (ConnectionError::Store("x".into()), 500, "Internal server error. No updates have been made."),
        ];
        for (error, status, message) in cases {
            let (s, m) = error.status_message();
            assert_eq!((s.as_u16(), m.as_str()), (status, message));
        }
    }

    #[test]
    fn every_authorization_error_maps_to_its_status_and_code() {
        use cofre_domain::authorizations::InvalidCode;
        let cases: Vec<(AuthorizationError, u16, &str)> = vec![
            (AuthorizationError::Unauthorized, 401, "UNAUTHORIZED"),
            (
                AuthorizationError::invalid(InvalidCode::MissingField, "amount is required for mti 0100"),
                400,
                "MISSING_FIELD",
            ),
            (AuthorizationError::Forbidden, 403, "FORBIDDEN"),
            (AuthorizationError::ForcedConfirmationForbidden, 403, "FORBIDDEN"),
            (AuthorizationError::InProgress, 409, "IN_PROGRESS"),
            (AuthorizationError::NotFound, 404, "AUTHORIZATION_NOT_FOUND"),
            (AuthorizationError::AccountNotFound, 404, "ACCOUNT_NOT_FOUND"),
            (AuthorizationError::Internal("x".into()), 500, "INTERNAL_ERROR"),
        ];
        for (error, status, code) in cases {
            let (s, c, _) = error.status_code_message();
            assert_eq!((s.as_u16(), c), (status, code));
            assert!(codes::authorizations::ALL.iter().any(|e| (e.status, e.code) == (s, c)), "{c}");
        }
        for &why in InvalidCode::ALL {
            let (s, c, m) = AuthorizationError::invalid(why, "amount must be a decimal number").status_code_message();
            assert_eq!((s.as_u16(), c, m.as_str()), (400, why.as_str(), "amount must be a decimal number"));
        }
    }

    #[test]
    fn unauthorized_answers_401_with_a_challenge_and_nothing_else() {
        let response = AuthError::Invalid.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[http::header::WWW_AUTHENTICATE], "Bearer");
    }
}
