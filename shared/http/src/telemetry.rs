//! Structured logs: JSON lines, one field set per request span (`tracking_id`, tenant, method, path).
//!
//! Whatever `RUST_LOG` says, crates known to log raw request payloads below INFO (the Lambda
//! runtime logs the whole event, body and `Authorization` header included, at TRACE) are held at
//! INFO: turning up verbosity in production must never turn on key leaks.
//!
//! `RUST_LOG` takes `target=level` directives and a default level (`info,cofre_aws=debug`), parsed
//! by `tracing_subscriber`'s `Targets`, not `EnvFilter`: span and field directives are not worth the
//! regex engine `EnvFilter` links into every function (~150 KB, docs/cold-start.md).

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{FilterExt, Targets, filter_fn};
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
pub fn json_layer<W>(writer: W, filter: Targets) -> impl Layer<Registry> + Send + Sync
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
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let _ = tracing_subscriber::registry().with(json_layer(std::io::stdout, filter)).try_init();
}

/// `RUST_LOG`'s directives; `info` when it is unset, empty or unreadable (logs are never lost to a
/// typo in a setting).
pub fn log_filter(directives: Option<&str>) -> Targets {
    directives
        .filter(|d| !d.trim().is_empty())
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(Level::INFO))
}

#[cfg(test)]
mod tests {
    use tracing::level_filters::LevelFilter;

    use super::*;

    #[test]
    fn rust_log_sets_levels_by_target_and_a_bad_one_falls_back_to_info() {
        let filter = log_filter(Some("warn,cofre_aws=debug"));
        assert_eq!(filter.default_level(), Some(LevelFilter::WARN));
        assert!(filter.would_enable("cofre_aws::wiring", &Level::DEBUG));
        assert!(!filter.would_enable("hyper", &Level::INFO));
        for unusable in [None, Some(""), Some("  "), Some("cofre=loud")] {
            let filter = log_filter(unusable);
            assert_eq!(filter.default_level(), Some(LevelFilter::INFO), "{unusable:?}");
            assert!(!filter.would_enable("cofre", &Level::DEBUG));
        }
    }
}
