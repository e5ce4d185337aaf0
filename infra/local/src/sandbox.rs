//! The sandbox: each banking partner's token API and each card processor's validation call, as the
//! third party shapes it, on loopback.
//!
//! It accepts any credential except: one containing `invalid` is refused as the third party would
//! (`invalid_client`, a 401, Authorize.Net's `E00007`, NMI's `Authentication Failed`), one containing
//! `unavailable` gets a 503, and one containing `slow` is answered only after 30 seconds, far past
//! any client timeout. It never logs what it receives.

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

/// What the sandbox does with a partner secret.
async fn answer(secret: &str, refusal: Response) -> Response {
    let token = format!("sandbox-{}", uuid::Uuid::new_v4().simple());
    let success = Json(json!({ "access_token": token, "token_type": "Bearer", "expires_in": 300 })).into_response();
    answer_with(secret, refusal, success).await
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

/// The card processors the sandbox speaks for.
#[derive(Clone, Copy)]
enum SandboxProcessor {
    Stripe,
    AffiniPay,
    AuthorizeNet,
    Braintree,
    Nmi,
    Adyen,
    Square,
    CardPointe,
}

/// Every credential value a processor call carries: HTTP Basic user and password, a bearer token,
/// an `X-API-Key`, and the body's values.
fn credential_material(headers: &HeaderMap, body: &[u8]) -> String {
    let mut material = Vec::new();
    if let Some(auth) = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        match auth.split_once(' ') {
            Some(("Basic", b64)) => {
                let decoded = base64::engine::general_purpose::STANDARD.decode(b64).unwrap_or_default();
                material.push(String::from_utf8_lossy(&decoded).into_owned());
            }
            Some((_, token)) => material.push(token.to_owned()),
            None => {}
        }
    }
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        material.push(key.to_owned());
    }
    material.push(String::from_utf8_lossy(body).into_owned());
    material.join(" ")
}

async fn processor_call(
    processor: SandboxProcessor,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // CardPointe carries the merchant id in the path.
    let material = format!("{} {}", credential_material(&headers, &body), uri.path());
    let unauthorized = || {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": { "type": "invalid_request_error", "message": "Invalid API Key provided" } })),
        )
            .into_response()
    };
    let (refusal, success) = match processor {
        SandboxProcessor::AuthorizeNet => {
            let answer = |code: &str, result: &str| {
                let body = format!(
                    "\u{feff}{{\"messages\":{{\"resultCode\":\"{result}\",\"message\":[{{\"code\":\"{code}\",\"text\":\"sandbox\"}}]}}}}"
                );
                ([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
            };
            (answer("E00007", "Error"), answer("I00001", "Ok"))
        }
        SandboxProcessor::Nmi => (
            "<error_response>Authentication Failed</error_response>".into_response(),
            "<?xml version=\"1.0\"?><nm_response></nm_response>".into_response(),
        ),
        SandboxProcessor::Braintree => (unauthorized(), Json(json!({ "data": { "ping": "pong" } })).into_response()),
        SandboxProcessor::Stripe => {
            (unauthorized(), Json(json!({ "id": "acct_sandbox", "object": "account" })).into_response())
        }
        SandboxProcessor::AffiniPay
        | SandboxProcessor::Adyen
        | SandboxProcessor::Square
        | SandboxProcessor::CardPointe => (unauthorized(), Json(json!({ "sandbox": true })).into_response()),
    };
    if material.trim().is_empty() {
        return refusal;
    }
    answer_with(&material, refusal, success).await
}

/// Applies the sandbox rules to `secret`: refuse, fail, delay, or succeed with `success`.
async fn answer_with(secret: &str, refusal: Response, success: Response) -> Response {
    if secret.contains("invalid") {
        return refusal;
    }
    if secret.contains("unavailable") {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": "temporarily_unavailable" }))).into_response();
    }
    if secret.contains("slow") {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    success
}

/// The sandbox's routes, one prefix per partner and processor.
pub fn router() -> Router {
    use SandboxProcessor as P;
    let call = |p: P| {
        move |uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Bytes| processor_call(p, uri, headers, body)
    };
    Router::new()
        .route("/stripe/v1/account", axum::routing::get(call(P::Stripe)))
        .route("/affinipay/v1/merchant", axum::routing::get(call(P::AffiniPay)))
        .route("/authorizenet/xml/v1/request.api", post(call(P::AuthorizeNet)))
        .route("/braintree/graphql", post(call(P::Braintree)))
        .route("/nmi/api/query.php", post(call(P::Nmi)))
        .route("/adyen/v71/paymentMethods", post(call(P::Adyen)))
        .route("/square/v2/merchants/me", axum::routing::get(call(P::Square)))
        .route("/cardpointe/cardconnect/rest/inquireMerchant/{mid}", axum::routing::get(call(P::CardPointe)))
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
