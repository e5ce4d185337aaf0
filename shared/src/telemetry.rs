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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    #[test]
    fn the_lambda_runtime_cannot_log_payloads_even_at_trace() {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(json_layer(capture.clone(), EnvFilter::new("trace")));
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "lambda_runtime::layers::api_response", payload = "runtime-trace-payload", "event");
            tracing::debug!(target: "lambda_http::request", payload = "http-debug-payload", "event");
            tracing::info!(target: "lambda_runtime", "runtime-info-line");
            tracing::trace!(target: "cofre::credentials", "cofre-trace-line");
        });
        let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        assert!(!logs.contains("runtime-trace-payload") && !logs.contains("http-debug-payload"), "{logs}");
        assert!(logs.contains("runtime-info-line") && logs.contains("cofre-trace-line"), "{logs}");
    }
}
