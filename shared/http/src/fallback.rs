use axum::Router;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use super::ApiErrorBody;

async fn not_found() -> Response {
    let body = ApiErrorBody { code: "NOT_FOUND", message: "No such route".to_owned(), details: None };
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

async fn method_not_allowed() -> Response {
    let body = ApiErrorBody { code: "METHOD_NOT_ALLOWED", message: "Method not allowed".to_owned(), details: None };
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

/// Gives unknown routes and wrong methods JSON answers like every other error. Applied once, by
/// whoever serves the finished router (a function's `main`, the local server): axum cannot merge
/// two routers that both have a fallback, so area routers have none.
pub fn with_json_fallbacks(router: Router) -> Router {
    router.fallback(not_found).method_not_allowed_fallback(method_not_allowed)
}
