use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json};
use bytes::Bytes;
use http::StatusCode;

use super::{AuthError, Authenticator, track_request};
use crate::credentials::{CredentialError, CredentialVault, parse_credential_request};
use crate::tenant::Identity;
use crate::tracking::TrackingId;

/// The largest body accepted: a key and a few partner fields fit many times over.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the create-credential routes need.
#[derive(Clone, Debug)]
pub struct CredentialApi {
    /// The use case.
    pub vault: Arc<CredentialVault>,
    /// How callers are identified.
    pub authenticator: Authenticator,
}

impl FromRef<CredentialApi> for Authenticator {
    fn from_ref(api: &CredentialApi) -> Self {
        api.authenticator.clone()
    }
}

/// `POST /banking-auth/v1/credentials`, with tracking and body limits: what the create-credential
/// Lambda serves and the local server mounts.
pub fn credential_router(api: CredentialApi) -> Router {
    Router::new()
        .route("/banking-auth/v1/credentials", post(create_credential))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(track_request))
        .with_state(api)
}

async fn create_credential(
    State(api): State<CredentialApi>,
    Extension(tracking_id): Extension<TrackingId>,
    identity: Result<Identity, AuthError>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let identity = match identity {
        Ok(identity) => identity,
        Err(e) => return e.into_response(),
    };
    let outcome = async {
        let body = body.map_err(|e| CredentialError::InvalidPayload { detail: e.body_text() })?;
        let request = parse_credential_request(&body)?;
        api.vault.create_or_replace(&identity.tenant, &tracking_id, request).await
    };
    match outcome.await {
        Ok(saved) => {
            let status = if saved.created { StatusCode::CREATED } else { StatusCode::OK };
            let body = serde_json::json!({ "message": "Credential saved", "proxy": saved.proxy.as_str() });
            (status, Json(body)).into_response()
        }
        Err(e) => e.into_response(),
    }
}
