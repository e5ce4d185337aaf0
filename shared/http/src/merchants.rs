use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, FromRef, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::patch;
use axum::{Extension, Json};
use bytes::Bytes;

use super::{AuthError, Authenticator, Caller, Refusal, track_request};
use cofre_domain::merchants::{ConnectionError, MerchantConnections, parse_connection_patch};
use cofre_domain::tracking::TrackingId;

/// The largest body accepted.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// What the merchant-connection routes need.
#[derive(Clone, Debug)]
pub struct MerchantApi {
    /// The use case.
    pub connections: Arc<MerchantConnections>,
    /// How callers are identified.
    pub authenticator: Authenticator,
}

impl FromRef<MerchantApi> for Authenticator {
    fn from_ref(api: &MerchantApi) -> Self {
        api.authenticator.clone()
    }
}

/// `PATCH /v1/merchants/{merchantId}/connection/{connectionId}`: what the patch-merchant-connection
/// Lambda serves and the local server mounts.
pub fn merchant_router(api: MerchantApi) -> Router {
    Router::new()
        .route("/v1/merchants/{merchant_id}/connection/{connection_id}", patch(patch_connection))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(track_request))
        .with_state(api)
}

async fn patch_connection(
    State(api): State<MerchantApi>,
    Extension(_tracking_id): Extension<TrackingId>,
    identity: Result<Caller, AuthError>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let outcome = async {
        let Caller(identity) = identity.map_err(|_| ConnectionError::Unauthorized)?;
        // A path that does not even decode names no merchant: the same 404 as any unknown one.
        let Path((merchant_id, connection_id)) = path.map_err(|_| ConnectionError::NotFound)?;
        let body = body.map_err(|e| ConnectionError::InvalidRequest(e.body_text()))?;
        let patch = parse_connection_patch(&body)?;
        api.connections.patch(&identity, &merchant_id, &connection_id, patch).await
    };
    match outcome.await {
        Ok(merchant) => Json(merchant.to_response()).into_response(),
        Err(e) => Refusal(e).into_response(),
    }
}
