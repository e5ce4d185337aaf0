//! The partner sandbox: each banking partner's token API, as the partner shapes it, on loopback.
//!
//! It accepts any credential except: a key containing `invalid` is refused as the partner would
//! (`invalid_client`), one containing `unavailable` gets a 503, and one containing `slow` is answered
//! only after 30 seconds, far past any client timeout. It never logs what it receives.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Form;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

/// What the sandbox does with a secret.
async fn answer(secret: &str, refusal: Response) -> Response {
    if secret.contains("invalid") {
        return refusal;
    }
    if secret.contains("unavailable") {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": "temporarily_unavailable" }))).into_response();
    }
    if secret.contains("slow") {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    let token = format!("sandbox-{}", uuid::Uuid::new_v4().simple());
    Json(json!({ "access_token": token, "token_type": "Bearer", "expires_in": 300 })).into_response()
}

fn invalid_client() -> Response {
    (StatusCode::UNAUTHORIZED, Json(json!({ "error": "invalid_client" }))).into_response()
}

fn invalid_request(what: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_request", "error_description": what }))).into_response()
}

#[derive(Deserialize)]
struct ClientCredentialsForm {
    client_id: Option<String>,
    client_secret: Option<String>,
    grant_type: Option<String>,
    scope: Option<String>,
}

/// Celcoin `POST /v5/token` and JDPI `POST /auth/jdpi/connect/token`: secret in the form.
async fn form_token(form: ClientCredentialsForm, needs_scope: bool) -> Response {
    if form.grant_type.as_deref() != Some("client_credentials") {
        return invalid_request("grant_type");
    }
    if needs_scope && form.scope.as_deref().is_none_or(str::is_empty) {
        return invalid_request("scope");
    }
    match (form.client_id.as_deref(), form.client_secret.as_deref()) {
        (Some(id), Some(secret)) if !id.is_empty() => answer(secret, invalid_client()).await,
        _ => invalid_client(),
    }
}

/// BTG `POST /oauth2/token`: HTTP Basic `client_id:secret`, form `grant_type`.
async fn btg_token(headers: HeaderMap, Form(form): Form<ClientCredentialsForm>) -> Response {
    if form.grant_type.as_deref() != Some("client_credentials") {
        return invalid_request("grant_type");
    }
    let basic = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    match basic.as_deref().and_then(|b| b.split_once(':')) {
        Some((id, secret)) if !id.is_empty() => answer(secret, invalid_client()).await,
        _ => invalid_client(),
    }
}

#[derive(Deserialize)]
struct Pay2allLogin {
    username: Option<String>,
    password: Option<String>,
}

/// Pay2all `POST /api/v1/login`: JSON username and password.
async fn pay2all_login(Json(login): Json<Pay2allLogin>) -> Response {
    let refusal = (StatusCode::UNAUTHORIZED, Json(json!({ "message": "Invalid credentials" }))).into_response();
    match (login.username.as_deref(), login.password.as_deref()) {
        (Some(user), Some(password)) if !user.is_empty() => answer(password, refusal).await,
        _ => refusal,
    }
}

/// The sandbox's routes, one prefix per partner.
pub fn router() -> Router {
    Router::new()
        .route("/celcoin/v5/token", post(|Form(f): Form<ClientCredentialsForm>| form_token(f, false)))
        .route("/jdpi/auth/jdpi/connect/token", post(|Form(f): Form<ClientCredentialsForm>| form_token(f, true)))
        .route("/btg/oauth2/token", post(btg_token))
        .route("/pay2all/api/v1/login", post(pay2all_login))
}

/// Serves the sandbox on an ephemeral loopback port; returns its base URL.
pub async fn start() -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router()).await {
            tracing::error!(error = %e, "partner sandbox stopped");
        }
    });
    Ok(format!("http://{addr}"))
}
