//! The sandbox: each banking partner's token API and the partner operations the gateway allowlists
//! (Pix transfers, DICT keys, webhooks, BaaS balances, Pay2all accounts and cash-out), and each card
//! processor's validation call, as the third party shapes it, on loopback.
//!
//! Partner operations demand a bearer token this sandbox issued for that partner and that has not
//! expired (300 s), so a call that reaches them proves the gateway obtained and used a real token.
//! A request body containing `unavailable` gets a 503, one containing `slow` waits 30 seconds.
//!
//! It accepts any credential except: one containing `invalid` is refused as the third party would
//! (`invalid_client`, a 401, Authorize.Net's `E00007`, NMI's `Authentication Failed`), one containing
//! `unavailable` gets a 503, and one containing `slow` is answered only after 30 seconds, far past
//! any client timeout. It never logs what it receives.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::Form;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

/// How long a sandbox token lives.
const TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// The tokens the sandbox issued: token → (partner, expiry).
#[derive(Clone, Default)]
struct IssuedTokens(Arc<Mutex<HashMap<String, (&'static str, Instant)>>>);

impl IssuedTokens {
    fn issue(&self, partner: &'static str) -> String {
        let token = format!("sandbox-{}", uuid::Uuid::new_v4().simple());
        let mut issued = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        issued.retain(|_, (_, expiry)| *expiry > Instant::now());
        issued.insert(token.clone(), (partner, Instant::now() + TOKEN_LIFETIME));
        token
    }

    fn valid(&self, partner: &str, headers: &HeaderMap) -> bool {
        let token = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let issued = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        token.and_then(|t| issued.get(t)).is_some_and(|(p, expiry)| *p == partner && *expiry > Instant::now())
    }
}

/// What the sandbox does with a partner secret: on success, a token for `partner`.
async fn answer(tokens: &IssuedTokens, partner: &'static str, secret: &str, refusal: Response) -> Response {
    if secret.contains("invalid") || secret.contains("unavailable") || secret.contains("slow") {
        return answer_with(secret, refusal, StatusCode::INTERNAL_SERVER_ERROR.into_response()).await;
    }
    let token = tokens.issue(partner);
    let lifetime = TOKEN_LIFETIME.as_secs();
    Json(json!({ "access_token": token, "token_type": "Bearer", "expires_in": lifetime })).into_response()
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
async fn form_token(
    tokens: IssuedTokens,
    partner: &'static str,
    form: ClientCredentialsForm,
    needs_scope: bool,
) -> Response {
    if form.grant_type.as_deref() != Some("client_credentials") {
        return invalid_request("grant_type");
    }
    if needs_scope && form.scope.as_deref().is_none_or(str::is_empty) {
        return invalid_request("scope");
    }
    match (form.client_id.as_deref(), form.client_secret.as_deref()) {
        (Some(id), Some(secret)) if !id.is_empty() => answer(&tokens, partner, secret, invalid_client()).await,
        _ => invalid_client(),
    }
}

/// BTG `POST /oauth2/token`: HTTP Basic `client_id:secret`, form `grant_type`.
async fn btg_token(tokens: IssuedTokens, headers: HeaderMap, form: ClientCredentialsForm) -> Response {
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
        Some((id, secret)) if !id.is_empty() => answer(&tokens, "BTG", secret, invalid_client()).await,
        _ => invalid_client(),
    }
}

#[derive(Deserialize)]
struct Pay2allLogin {
    username: Option<String>,
    password: Option<String>,
}

/// Pay2all `POST /api/v1/login`: JSON username and password.
async fn pay2all_login(tokens: IssuedTokens, login: Pay2allLogin) -> Response {
    let refusal = (StatusCode::UNAUTHORIZED, Json(json!({ "message": "Invalid credentials" }))).into_response();
    match (login.username.as_deref(), login.password.as_deref()) {
        (Some(user), Some(password)) if !user.is_empty() => answer(&tokens, "PAY2ALL", password, refusal).await,
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

/// A partner operation the sandbox answers.
#[derive(Clone, Copy)]
enum Operation {
    PixTransfer,
    PixTransferStatus,
    DictLookup,
    DictRegister,
    DictDelete,
    WebhookSet,
    WebhookGet,
    WebhookDelete,
    Balance,
    Statement,
    AccountOpen,
    AccountClose,
    CashOut,
}

/// Answers `operation` for `partner` if the bearer token is one the sandbox issued to it.
async fn partner_operation(
    tokens: IssuedTokens,
    partner: &'static str,
    operation: Operation,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !tokens.valid(partner, &headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": "invalid_token" }))).into_response();
    }
    let text = String::from_utf8_lossy(&body);
    if text.contains("unavailable") || text.contains("slow") {
        return answer_with(&text, StatusCode::INTERNAL_SERVER_ERROR.into_response(), StatusCode::OK.into_response())
            .await;
    }
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let last = uri.path().rsplit('/').next().unwrap_or_default().to_owned();
    let id = || format!("E{}", &uuid::Uuid::new_v4().simple().to_string()[..24]);
    use Operation as O;
    match operation {
        O::PixTransfer => match request.get("amount") {
            Some(amount) => (
                StatusCode::CREATED,
                Json(json!({ "end_to_end_id": id(), "status": "PROCESSING", "amount": amount, "partner": partner })),
            )
                .into_response(),
            None => (StatusCode::BAD_REQUEST, Json(json!({ "error": "amount is required" }))).into_response(),
        },
        O::PixTransferStatus => Json(json!({ "end_to_end_id": last, "status": "SETTLED" })).into_response(),
        O::DictLookup => {
            Json(json!({ "key": last, "owner": { "name": "Maria da Silva", "document": "***.456.789-**" },
            "account": { "ispb": "00000000", "branch": "0001", "type": "CACC" } }))
            .into_response()
        }
        O::DictRegister => {
            (StatusCode::CREATED, Json(json!({ "key": request.get("key"), "status": "REGISTERED" }))).into_response()
        }
        O::DictDelete | O::WebhookDelete => StatusCode::NO_CONTENT.into_response(),
        O::WebhookSet => Json(json!({ "kind": last, "url": request.get("url"), "status": "ACTIVE" })).into_response(),
        O::WebhookGet => Json(json!({ "kind": last, "status": "ACTIVE" })).into_response(),
        O::Balance => {
            Json(json!({ "account": uri.path().split('/').nth(4), "available": "1000.00", "currency": "BRL" }))
                .into_response()
        }
        O::Statement => Json(json!({ "entries": [] })).into_response(),
        O::AccountOpen => (StatusCode::CREATED, Json(json!({ "account_id": id(), "status": "OPEN" }))).into_response(),
        O::AccountClose => Json(json!({ "account_id": last, "status": "CLOSED" })).into_response(),
        O::CashOut => (StatusCode::CREATED, Json(json!({ "id": id(), "status": "PROCESSING" }))).into_response(),
    }
}

/// The partner operations the sandbox serves, as (partner, prefix, method, path, operation).
fn partner_operations() -> Vec<(&'static str, &'static str, &'static str, &'static str, Operation)> {
    use Operation as O;
    let pix = [
        ("POST", "/pix/v1/transfers", O::PixTransfer),
        ("GET", "/pix/v1/transfers/{id}", O::PixTransferStatus),
        ("GET", "/pix/v1/dict/keys/{key}", O::DictLookup),
        ("POST", "/pix/v1/dict/keys", O::DictRegister),
        ("DELETE", "/pix/v1/dict/keys/{key}", O::DictDelete),
        ("PUT", "/pix/v1/webhooks/{kind}", O::WebhookSet),
        ("GET", "/pix/v1/webhooks/{kind}", O::WebhookGet),
        ("DELETE", "/pix/v1/webhooks/{kind}", O::WebhookDelete),
    ];
    let baas = [
        ("GET", "/baas/v1/accounts/{account}/balance", O::Balance),
        ("GET", "/baas/v1/accounts/{account}/statement", O::Statement),
    ];
    let pay2all = [
        ("POST", "/api/v1/accounts", O::AccountOpen),
        ("DELETE", "/api/v1/accounts/{id}", O::AccountClose),
        ("POST", "/api/v1/cash-out", O::CashOut),
    ];
    let mut all = Vec::new();
    for (partner, prefix) in [("BTG", "/btg"), ("CELCOIN", "/celcoin"), ("JDPI", "/jdpi")] {
        all.extend(pix.iter().map(|(m, p, o)| (partner, prefix, *m, *p, *o)));
    }
    for (partner, prefix) in [("BTG", "/btg"), ("CELCOIN", "/celcoin")] {
        all.extend(baas.iter().map(|(m, p, o)| (partner, prefix, *m, *p, *o)));
    }
    all.extend(pay2all.iter().map(|(m, p, o)| ("PAY2ALL", "/pay2all", *m, *p, *o)));
    all
}

/// The sandbox's routes, one prefix per partner and processor.
pub fn router() -> Router {
    use SandboxProcessor as P;
    let call = |p: P| {
        move |uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Bytes| processor_call(p, uri, headers, body)
    };
    let tokens = IssuedTokens::default();
    let mut router = Router::new();
    for (partner, prefix, method, path, operation) in partner_operations() {
        let tokens = tokens.clone();
        let handler = move |uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Bytes| {
            partner_operation(tokens, partner, operation, uri, headers, body)
        };
        let filter = match method {
            "GET" => axum::routing::MethodFilter::GET,
            "POST" => axum::routing::MethodFilter::POST,
            "PUT" => axum::routing::MethodFilter::PUT,
            _ => axum::routing::MethodFilter::DELETE,
        };
        router = router.route(&format!("{prefix}{path}"), axum::routing::on(filter, handler));
    }
    let (t1, t2, t3, t4) = (tokens.clone(), tokens.clone(), tokens.clone(), tokens);
    router
        .route("/stripe/v1/account", axum::routing::get(call(P::Stripe)))
        .route("/affinipay/v1/merchant", axum::routing::get(call(P::AffiniPay)))
        .route("/authorizenet/xml/v1/request.api", post(call(P::AuthorizeNet)))
        .route("/braintree/graphql", post(call(P::Braintree)))
        .route("/nmi/api/query.php", post(call(P::Nmi)))
        .route("/adyen/v71/paymentMethods", post(call(P::Adyen)))
        .route("/square/v2/merchants/me", axum::routing::get(call(P::Square)))
        .route("/cardpointe/cardconnect/rest/inquireMerchant/{mid}", axum::routing::get(call(P::CardPointe)))
        .route("/celcoin/v5/token", post(|Form(f): Form<ClientCredentialsForm>| form_token(t1, "CELCOIN", f, false)))
        .route(
            "/jdpi/auth/jdpi/connect/token",
            post(|Form(f): Form<ClientCredentialsForm>| form_token(t2, "JDPI", f, true)),
        )
        .route("/btg/oauth2/token", post(|h: HeaderMap, Form(f): Form<ClientCredentialsForm>| btg_token(t3, h, f)))
        .route("/pay2all/api/v1/login", post(|Json(l): Json<Pay2allLogin>| pay2all_login(t4, l)))
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
