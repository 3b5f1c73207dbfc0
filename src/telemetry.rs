//! Tracing subscriber setup (pretty or JSON lines) and a helper that runs
//! blocking work on the blocking pool inside the caller's span.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the global subscriber. The filter comes from `RUST_LOG`
/// (default `info`). Safe to call twice (the second call is a no-op).
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
            )
            .try_init()
    } else {
        registry.with(fmt::layer()).try_init()
    };
}

/// `spawn_blocking` that keeps the current span, so blocking work (Argon2)
/// logs under the request that caused it.
pub fn spawn_blocking_with_tracing<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
}
