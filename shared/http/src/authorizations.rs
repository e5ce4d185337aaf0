use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;

use super::{AuthError, Authenticator, Caller, Refusal, track_request};
use cofre_domain::authorizations::{AuthorizationError, Authorizer, parse_authorization_request};
use cofre_domain::tracking::TrackingId;

/// Set on the answer of a tracking_id already decided: the recorded decision, not a new one.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// The largest body accepted.
const MAX_BODY_BYTES: usize = 32 * 1024;

/// What the authorization route needs.
#[derive(Clone, Debug)]
pub struct AuthorizationApi {
    /// The use case.
    pub authorizer: Arc<Authorizer>,
    /// How callers are identified.
    pub authenticator: Authenticator,
}

impl FromRef<AuthorizationApi> for Authenticator {
    fn from_ref(api: &AuthorizationApi) -> Self {
        api.authenticator.clone()
    }
}

/// `POST /payment-methods/v1/authorization`: what the request-authorization Lambda serves and the
/// local server mounts.
pub fn authorization_router(api: AuthorizationApi) -> Router {
    Router::new()
        .route("/payment-methods/v1/authorization", post(authorize))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(track_request))
        .with_state(api)
}

async fn authorize(
    State(api): State<AuthorizationApi>,
    Extension(tracking_id): Extension<TrackingId>,
    identity: Result<Caller, AuthError>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut effective = tracking_id.clone();
    let outcome = async {
        let Caller(identity) = identity.map_err(|_| AuthorizationError::Unauthorized)?;
        let body = body.map_err(|e| AuthorizationError::invalid_body(e.body_text()))?;
        let request = parse_authorization_request(&body)?;
        if let Some(own) = &request.tracking_id {
            tracing::Span::current().record("cid", own.as_str());
            effective = own.clone();
        }
        api.authorizer.authorize(&identity, &tracking_id, request).await
    };
    let mut response = match outcome.await {
        Ok(decision) => {
            let mut answer = ([(http::header::CONTENT_TYPE, "application/json")], decision.response.get().to_owned())
                .into_response();
            if decision.replayed.is_some() {
                answer.headers_mut().insert(REPLAYED_HEADER, http::HeaderValue::from_static("true"));
            }
            answer
        }
        Err(e) => Refusal(e).into_response(),
    };
    // The response names the key the decision is recorded under: the body's tracking_id if it had one.
    if let Ok(value) = http::HeaderValue::from_str(effective.as_str()) {
        response.headers_mut().insert(super::TRACKING_HEADER, value);
    }
    response
}
