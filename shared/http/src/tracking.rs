use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use tracing::Instrument;

use cofre_domain::tracking::TrackingId;

/// The header a caller may set and every response carries.
pub const TRACKING_HEADER: &str = "tracking_id";

/// The path as logged: the route's template where the path carries caller data (a proxy and a
/// partner path, which may hold a CPF or an e-mail), the path itself elsewhere.
fn logged_path(request: &Request) -> String {
    match request.extensions().get::<axum::extract::MatchedPath>() {
        Some(matched) if matched.as_str().contains("{*") => matched.as_str().to_owned(),
        _ => request.uri().path().to_owned(),
    }
}

/// Middleware: picks the caller's `tracking_id` (or mints one), makes it available to handlers,
/// opens the span every log line of the request is written in, and echoes it on the response.
pub async fn track_request(mut request: Request, next: Next) -> Response {
    let tracking_id = request
        .headers()
        .get(TRACKING_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(TrackingId::parse)
        .unwrap_or_else(TrackingId::generate);
    request.extensions_mut().insert(tracking_id.clone());
    let span = tracing::info_span!(
        "request",
        tracking_id = %tracking_id,
        method = %request.method(),
        path = %logged_path(&request),
        tenant_id = tracing::field::Empty,
        cid = tracing::field::Empty,
        route = tracing::field::Empty,
    );
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request finished"
        );
    });
    // A handler that keyed the request by another id (an authorization's body `tracking_id`) has set
    // the header already; it stands.
    if let (Ok(value), false) =
        (HeaderValue::from_str(tracking_id.as_str()), response.headers().contains_key(TRACKING_HEADER))
    {
        response.headers_mut().insert(TRACKING_HEADER, value);
    }
    response
}
