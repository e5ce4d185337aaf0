//! Structured logs: JSON lines, one field set per request span (`tracking_id`, tenant, method, path).
//!
//! Whatever `RUST_LOG` says, crates known to log raw request payloads below INFO (the Lambda
//! runtime logs the whole event, body and `Authorization` header included, at TRACE) are held at
//! INFO: turning up verbosity in production must never turn on key leaks.

use tracing::{Level, Metadata};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// Targets that log request or response payloads below INFO.
const PAYLOAD_LOGGING_TARGETS: [&str; 2] = ["lambda_runtime", "lambda_http"];

/// `false` for events that could carry a payload, whatever the configured level.
pub fn payload_guard(metadata: &Metadata<'_>) -> bool {
    let verbose = *metadata.level() > Level::INFO;
    !(verbose && PAYLOAD_LOGGING_TARGETS.iter().any(|t| metadata.target().starts_with(t)))
}

/// The JSON log layer every binary uses, writing to `writer`, filtered by `filter` and the payload
/// guard.
pub fn json_layer<W>(writer: W, filter: EnvFilter) -> impl Layer<Registry> + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .flatten_event(true)
        .with_writer(writer)
        .with_filter(filter.and(filter_fn(payload_guard)))
}

/// Installs the JSON log subscriber on stdout (level from `RUST_LOG`, default `info`). Idempotent.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::registry().with(json_layer(std::io::stdout, filter)).try_init();
}
