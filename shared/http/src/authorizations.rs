use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, FromRef, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::value::RawValue;

use super::{AuthError, Authenticator, Caller, Refusal, track_request};
use cofre_domain::authorizations::{
    AccountId, AuthorizationError, AuthorizationId, AuthorizationRef, Authorizer, InvalidCode,
    parse_authorization_request,
};
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

/// `POST /payment-methods/v1/authorization`, and the reads of what it decided and of an account's
/// balance (`GET /payment-methods/v1/authorizations/{authorization_id}`, `…/by-tracking-id/{tracking_id}`,
/// `GET /payment-methods/v1/accounts/{account_id}/balance`): what the request-authorization Lambda
/// serves and the local server mounts.
pub fn authorization_router(api: AuthorizationApi) -> Router {
    Router::new()
        .route("/payment-methods/v1/authorization", post(authorize))
        .route("/payment-methods/v1/authorizations/{authorization_id}", get(authorization_by_id))
        .route("/payment-methods/v1/authorizations/by-tracking-id/{tracking_id}", get(authorization_by_tracking_id))
        .route("/payment-methods/v1/accounts/{account_id}/balance", get(account_balance))
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

/// A path parameter read with `parse`, or the 400 naming what it must be.
fn path_param<T>(
    path: Result<Path<String>, PathRejection>,
    parse: impl FnOnce(&str) -> Option<T>,
    must_be: &str,
) -> Result<T, AuthorizationError> {
    path.ok()
        .and_then(|Path(raw)| parse(&raw))
        .ok_or_else(|| AuthorizationError::invalid(InvalidCode::InvalidParameter, must_be))
}

/// The JSON answer of a read, or its refusal.
fn answer(outcome: Result<Box<RawValue>, AuthorizationError>) -> Response {
    match outcome {
        Ok(body) => ([(http::header::CONTENT_TYPE, "application/json")], body.get().to_owned()).into_response(),
        Err(e) => Refusal(e).into_response(),
    }
}

/// A read of one authorization: the caller first (401), then the path (400), then the store.
async fn read_back(
    api: AuthorizationApi,
    identity: Result<Caller, AuthError>,
    name: impl FnOnce() -> Result<AuthorizationRef, AuthorizationError>,
) -> Response {
    let outcome = async {
        let Caller(identity) = identity.map_err(|_| AuthorizationError::Unauthorized)?;
        api.authorizer.read_back(&identity.tenant, &name()?).await
    };
    answer(outcome.await)
}

async fn authorization_by_id(
    State(api): State<AuthorizationApi>,
    identity: Result<Caller, AuthError>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    read_back(api, identity, || {
        let must_be = "authorization_id must be a whole number from 1 to 9007199254740991";
        path_param(path, AuthorizationId::parse, must_be).map(AuthorizationRef::Id)
    })
    .await
}

async fn authorization_by_tracking_id(
    State(api): State<AuthorizationApi>,
    identity: Result<Caller, AuthError>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    read_back(api, identity, || {
        let must_be = "tracking_id must be 1 to 128 characters of A-Z a-z 0-9 . _ : -";
        path_param(path, TrackingId::parse, must_be).map(AuthorizationRef::Tracking)
    })
    .await
}

async fn account_balance(
    State(api): State<AuthorizationApi>,
    identity: Result<Caller, AuthError>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let outcome = async {
        let Caller(identity) = identity.map_err(|_| AuthorizationError::Unauthorized)?;
        let must_be = "account_id must be a whole number from 1 to 9223372036854775807";
        let account = path_param(path, AccountId::parse, must_be)?;
        api.authorizer.balance(&identity.tenant, account).await
    };
    answer(outcome.await)
}
