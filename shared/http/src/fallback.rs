use axum::Router;
use axum::response::{IntoResponse, Response};

use super::ApiErrorBody;
use super::error::codes::{ErrorCode, routing};

fn answer(entry: &ErrorCode) -> Response {
    let body = ApiErrorBody { code: entry.code, message: entry.message_with(&[]), details: None };
    (entry.status, axum::Json(body)).into_response()
}

async fn not_found() -> Response {
    answer(&routing::NOT_FOUND)
}

async fn method_not_allowed() -> Response {
    answer(&routing::METHOD_NOT_ALLOWED)
}

/// Gives unknown routes and wrong methods JSON answers like every other error. Applied once, by
/// whoever serves the finished router (a function's `main`, the local server): axum cannot merge
/// two routers that both have a fallback, so area routers have none.
pub fn with_json_fallbacks(router: Router) -> Router {
    router.fallback(not_found).method_not_allowed_fallback(method_not_allowed)
}
