//! The one place domain errors become HTTP responses: status, documented code, documented message.
//!
//! Server-side failures are logged here with their internal detail (which never holds a secret) and
//! answered with the documented, detail-free message.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;

use crate::credentials::CredentialError;

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

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        tracing::warn!(reason = %self, "request not authenticated");
        respond(
            StatusCode::UNAUTHORIZED,
            ApiErrorBody { code: "UNAUTHORIZED", message: "Unauthorized".to_owned(), details: None },
        )
    }
}

impl CredentialError {
    /// The documented status, code and message of this error.
    pub fn status_code_message(&self) -> (StatusCode, &'static str, String) {
        use StatusCode as S;
        match self {
            Self::InvalidPayload { .. } => (S::BAD_REQUEST, "EBAA0004", "Invalid payload".to_owned()),
            Self::MissingFields(fields) => {
                (S::BAD_REQUEST, "EBAA0005", format!("Invalid payload. Required fields: [{}]", fields.join(", ")))
            }
            Self::UnsupportedPair { credential_type, provider } => {
                (S::BAD_REQUEST, "EBAA0007", format!("Unsupported Type: ({credential_type}) and Provider ({provider})"))
            }
            Self::PartnerConfigNotFound(p) => {
                (S::INTERNAL_SERVER_ERROR, "EBAA0014", format!("{p} - API configuration not found"))
            }
            Self::InvalidCredential(p) => (S::BAD_REQUEST, "EBAA0018", format!("{p} - API Invalid credential")),
            Self::PartnerUnavailable { .. } => (S::BAD_GATEWAY, "EBAA0002", "Bad Gateway Error".to_owned()),
            Self::PartnerTimeout(_) => (S::GATEWAY_TIMEOUT, "EBAA0003", "Gateway Timeout".to_owned()),
            Self::EncryptionMismatch => (
                S::INTERNAL_SERVER_ERROR,
                "EBAA0009",
                "Encrypted value error. Decrypt returned different value".to_owned(),
            ),
            Self::Crypto(_) => (
                S::INTERNAL_SERVER_ERROR,
                "EBAA0010",
                "Cryptography Decrypt error. Check logs for more details".to_owned(),
            ),
            Self::Save(_) => (
                S::INTERNAL_SERVER_ERROR,
                "EBAA0011",
                "Credential Repository Save config error. Check logs for more details".to_owned(),
            ),
            Self::Get(_) => (
                S::INTERNAL_SERVER_ERROR,
                "EBAA0012",
                "Credential Repository Get config error. Check logs for more details".to_owned(),
            ),
        }
    }
}

impl IntoResponse for CredentialError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.status_code_message();
        let details = match &self {
            Self::InvalidPayload { detail } => Some(detail.clone()),
            _ => None,
        };
        if status.is_server_error() {
            tracing::error!(code, error = %self, "request failed");
        } else {
            tracing::warn!(code, error = %self, "request refused");
        }
        respond(status, ApiErrorBody { code, message, details })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Provider;

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
        }
    }

    #[test]
    fn unauthorized_answers_401_with_a_challenge_and_nothing_else() {
        let response = AuthError::Invalid.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[http::header::WWW_AUTHENTICATE], "Bearer");
    }
}
