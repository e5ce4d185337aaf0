use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri};

use super::{AuthError, Authenticator, Caller, Refusal, track_request};
use cofre_domain::credentials::ProxyValue;
use cofre_domain::gateway::{
    GatewayCall, GatewayError, MAX_REQUEST_BODY, PartnerGateway, PartnerPath, REQUEST_HEADERS,
};
use cofre_domain::tracking::TrackingId;

/// Where every gateway path starts; the proxy and the partner path follow.
const PROXY_PREFIX: &str = "/banking-auth/v1/proxy/";

/// What the use-credential routes need.
#[derive(Clone, Debug)]
pub struct GatewayApi {
    /// The use case.
    pub gateway: Arc<PartnerGateway>,
    /// How callers are identified.
    pub authenticator: Authenticator,
}

impl FromRef<GatewayApi> for Authenticator {
    fn from_ref(api: &GatewayApi) -> Self {
        api.authenticator.clone()
    }
}

/// `{GET|POST|PUT|PATCH|DELETE} /banking-auth/v1/proxy/{proxy}/{path+}`: what the use-credential
/// Lambda serves and the local server mounts.
pub fn gateway_router(api: GatewayApi) -> Router {
    let methods =
        MethodFilter::GET.or(MethodFilter::POST).or(MethodFilter::PUT).or(MethodFilter::PATCH).or(MethodFilter::DELETE);
    Router::new()
        .route("/banking-auth/v1/proxy/{proxy}/{*path}", on(methods, call_partner))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .layer(axum::middleware::from_fn(track_request))
        .with_state(api)
}

/// The proxy and the partner path, read from the path exactly as the caller encoded it (axum's
/// extractors would decode it, and the checks must see every encoding).
fn target(uri: &Uri) -> Result<(ProxyValue, PartnerPath), GatewayError> {
    let rest = uri.path().strip_prefix(PROXY_PREFIX).ok_or(GatewayError::NotFound)?;
    let (proxy, _) = rest.split_once('/').ok_or(GatewayError::NotFound)?;
    let proxy = ProxyValue::parse(proxy).ok_or(GatewayError::NotFound)?;
    let path =
        PartnerPath::parse(&rest[proxy.as_str().len()..], uri.query()).map_err(|e| GatewayError::InvalidPath(e.0))?;
    Ok((proxy, path))
}

#[allow(clippy::too_many_arguments)]
async fn call_partner(
    State(api): State<GatewayApi>,
    Extension(tracking_id): Extension<TrackingId>,
    identity: Result<Caller, AuthError>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let identity = match identity {
        Ok(Caller(identity)) => identity,
        Err(e) => return e.into_response(),
    };
    let outcome = async {
        let (proxy, path) = target(&uri)?;
        let body = body.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                GatewayError::BodyTooLarge
            } else {
                GatewayError::InvalidPath("the request body could not be read")
            }
        })?;
        let headers = headers
            .iter()
            .filter(|(name, _)| REQUEST_HEADERS.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        api.gateway.call(&identity, &tracking_id, &proxy, GatewayCall { method, path, headers, body }).await
    };
    match outcome.await {
        Ok(answer) => {
            let mut response = Response::new(Body::from(answer.body));
            *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
            response.headers_mut().extend(answer.headers);
            response
        }
        Err(e) => Refusal(e).into_response(),
    }
}
