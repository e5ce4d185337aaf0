use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, FromRef, Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json};
use bytes::Bytes;
use http::StatusCode;

use super::{AuthError, Authenticator, Caller, Refusal, track_request};
use cofre_domain::clock::rfc3339;
use cofre_domain::credentials::{
    CredentialError, CredentialUse, CredentialVault, ProxyValue, StoredCredential, UseId, UseOutcome,
    parse_credential_request,
};
use cofre_domain::tracking::TrackingId;

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

/// `POST` (create or replace) and `GET` (list) `/banking-auth/v1/credentials`, `DELETE
/// /banking-auth/v1/credentials/{proxy}` (revoke) and `GET …/{proxy}/uses` (the audit), with
/// tracking and body limits: what the create-credential Lambda serves and the local server mounts.
/// None of these needs to open a key, so none runs where keys can be opened.
pub fn credential_router(api: CredentialApi) -> Router {
    Router::new()
        .route("/banking-auth/v1/credentials", post(create_credential).get(list_credentials))
        .route("/banking-auth/v1/credentials/{proxy}", delete(revoke_credential))
        .route("/banking-auth/v1/credentials/{proxy}/uses", get(credential_uses))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(track_request))
        .with_state(api)
}

async fn create_credential(
    State(api): State<CredentialApi>,
    Extension(tracking_id): Extension<TrackingId>,
    identity: Result<Caller, AuthError>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let identity = match identity {
        Ok(Caller(identity)) => identity,
        Err(e) => return e.into_response(),
    };
    let outcome = async {
        let body = body.map_err(|e| CredentialError::InvalidPayload { detail: e.body_text() })?;
        let request = parse_credential_request(&body)?;
        api.vault.create_or_replace(&identity.tenant, &tracking_id, request).await
    };
    match outcome.await {
        Ok(saved) => {
            // The reference documents 201 for create-or-replace; the body says which it was.
            let body = serde_json::json!({
                "message": "Credential saved",
                "proxy": saved.proxy.as_str(),
                "replaced": !saved.created,
            });
            (StatusCode::CREATED, Json(body)).into_response()
        }
        Err(e) => Refusal(e).into_response(),
    }
}

/// Uses per page unless the caller asks for fewer (or up to [`MAX_PAGE`]).
const DEFAULT_PAGE: usize = 20;
/// The most uses in one page.
const MAX_PAGE: usize = 100;

fn credential_view(c: &StoredCredential) -> serde_json::Value {
    serde_json::json!({
        "proxy": c.proxy.as_str(),
        "provider": c.slot.provider.as_str(),
        "type": c.slot.credential_type.as_str(),
        "version": c.version,
        "provider_data": c.provider_data,
        "created_at": rfc3339(c.created_at),
        "updated_at": rfc3339(c.updated_at),
        "last_used_at": c.last_used_at.map(rfc3339),
    })
}

fn use_view(u: &CredentialUse) -> serde_json::Value {
    let (partner_status, error_code, duration_ms) = match &u.outcome {
        UseOutcome::Pending => (None, None, None),
        UseOutcome::Answered { partner_status, duration_ms } => (Some(*partner_status), None, Some(*duration_ms)),
        UseOutcome::Failed { code, partner_status, duration_ms } => {
            (*partner_status, Some(code.as_str()), Some(*duration_ms))
        }
    };
    serde_json::json!({
        "id": u.id.as_str(),
        "started_at": rfc3339(u.started_at),
        "subject": u.subject,
        "credential_version": u.credential_version,
        "method": u.method,
        "route": u.route,
        "outcome": u.outcome.as_str(),
        "partner_status": partner_status,
        "error_code": error_code,
        "duration_ms": duration_ms,
        "tracking_id": u.tracking_id,
    })
}

fn invalid_query(detail: &str) -> CredentialError {
    CredentialError::InvalidPayload { detail: detail.to_owned() }
}

/// `limit` (1 to 100) and `cursor` (a `next_cursor` from an earlier page); nothing else.
fn page_query(raw: Option<&str>) -> Result<(usize, Option<UseId>), CredentialError> {
    let (mut limit, mut cursor) = (DEFAULT_PAGE, None);
    for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("limit", value)) => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| invalid_query("limit must be a whole number from 1 to 100"))?;
            }
            Some(("cursor", value)) => {
                cursor = Some(UseId::parse(value).ok_or_else(|| invalid_query("cursor is not one this API returned"))?);
            }
            _ => return Err(invalid_query("unknown query parameter; allowed are limit and cursor")),
        }
    }
    Ok((limit, cursor))
}

fn proxy_param(path: Result<Path<String>, PathRejection>) -> Result<ProxyValue, CredentialError> {
    path.ok().and_then(|Path(raw)| ProxyValue::parse(&raw)).ok_or(CredentialError::NotFound)
}

async fn list_credentials(State(api): State<CredentialApi>, identity: Result<Caller, AuthError>) -> Response {
    let identity = match identity {
        Ok(Caller(identity)) => identity,
        Err(e) => return e.into_response(),
    };
    match api.vault.list(&identity.tenant).await {
        Ok(list) => {
            let credentials: Vec<_> = list.iter().map(credential_view).collect();
            Json(serde_json::json!({ "credentials": credentials })).into_response()
        }
        Err(e) => Refusal(e).into_response(),
    }
}

async fn credential_uses(
    State(api): State<CredentialApi>,
    identity: Result<Caller, AuthError>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let identity = match identity {
        Ok(Caller(identity)) => identity,
        Err(e) => return e.into_response(),
    };
    let outcome = async {
        let proxy = proxy_param(path)?;
        let (limit, cursor) = page_query(query.as_deref())?;
        let page = api.vault.uses(&identity.tenant, &proxy, cursor.as_ref(), limit).await?;
        let next = (page.len() == limit).then(|| page.last().map(|u| u.id.as_str().to_owned())).flatten();
        let uses: Vec<_> = page.iter().map(use_view).collect();
        Ok::<_, CredentialError>(serde_json::json!({ "uses": uses, "next_cursor": next }))
    };
    match outcome.await {
        Ok(body) => Json(body).into_response(),
        Err(e) => Refusal(e).into_response(),
    }
}

async fn revoke_credential(
    State(api): State<CredentialApi>,
    identity: Result<Caller, AuthError>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let identity = match identity {
        Ok(Caller(identity)) => identity,
        Err(e) => return e.into_response(),
    };
    let outcome = async {
        let proxy = proxy_param(path)?;
        api.vault.revoke(&identity.tenant, &proxy).await?;
        Ok::<_, CredentialError>(proxy)
    };
    match outcome.await {
        Ok(proxy) => {
            Json(serde_json::json!({ "message": "Credential revoked", "proxy": proxy.as_str() })).into_response()
        }
        Err(e) => Refusal(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_queries_take_limit_and_cursor_only() {
        assert_eq!(page_query(None).unwrap(), (DEFAULT_PAGE, None));
        let cursor = "00000000000000000042-00000000000000ff";
        let (limit, parsed) = page_query(Some(&format!("limit=5&cursor={cursor}"))).unwrap();
        assert_eq!((limit, parsed.unwrap().as_str()), (5, cursor));
        for bad in ["limit=0", "limit=101", "limit=x", "cursor=abc", "offset=3", "limit"] {
            assert!(page_query(Some(bad)).is_err(), "{bad}");
        }
    }
}
