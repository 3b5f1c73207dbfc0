//! Tracing subscriber setup (pretty or JSON lines), the request span of
//! every HTTP request ([`RequestSpan`]) and a helper that runs blocking work
//! on the blocking pool inside the caller's span.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{Error, ResponseError};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
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

/// The request span of `TracingLogger`: tracing-actix-web's default span,
/// plus one event per failed request whose level follows the status. A
/// client error (4xx: a wrong password, a malformed body) is the client's
/// business and logs at DEBUG; a server error (5xx) logs at ERROR with its
/// cause. (tracing-actix-web's own event, built without its
/// `emit_event_on_error` feature, would log every 4xx as a WARN.)
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        DefaultRootSpanBuilder::on_request_start(request)
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
        match outcome {
            Ok(response) => {
                if let Some(error) = response.response().error() {
                    log_failure(response.status(), error.as_response_error());
                }
            }
            Err(error) => {
                let error = error.as_response_error();
                log_failure(error.status_code(), error);
            }
        }
    }
}

fn log_failure(status: StatusCode, error: &dyn ResponseError) {
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), "request failed: {error:?}");
    } else {
        tracing::debug!(status = status.as_u16(), "request refused: {error}");
    }
}
