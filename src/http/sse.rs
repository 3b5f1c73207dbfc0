//! What every Server-Sent Events stream shares (a room's `GET …/events`,
//! the user's `GET /me/events`): the task that runs its pump until the
//! client leaves, its access token expires (a last `token_expired` event,
//! like a STOMP session's ERROR), its login is ended (`session_revoked`) or the server shuts down, and the
//! streaming answer.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpResponse;
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::logins::LoginWatch;
use crate::state::AppState;

/// Comment line interval that keeps proxies from closing an idle stream.
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Chunks buffered between a stream's task and its HTTP body.
const SSE_BUFFER: usize = 64;
/// How long the last `token_expired` event may wait for the client.
const END_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Answers with an event stream fed by `pump`, which writes chunks into the
/// sender it is given and returns why it stopped; it also ends, with a last
/// `session_revoked` event, when `login` is ended. `hold` (the connection
/// slot, presence, a listener registration…) is dropped when the stream
/// ends, whatever ends it; `what` names the stream in the log.
pub(super) fn respond<H, F>(
    state: Arc<AppState>,
    expires_at: i64,
    mut login: LoginWatch,
    hold: H,
    what: &'static str,
    pump: impl FnOnce(mpsc::Sender<Bytes>) -> F,
) -> HttpResponse
where
    H: 'static,
    F: Future<Output = Result<(), &'static str>> + 'static,
{
    let (tx, rx) = mpsc::channel::<Bytes>(SSE_BUFFER);
    let pumping = pump(tx.clone());
    actix_web::rt::spawn(async move {
        let _hold = hold;
        let _gauge = crate::metrics::ConnectionGauge::open("sse");
        let left = Duration::from_secs((expires_at - crate::auth::jwt::now_secs()).max(0) as u64);
        let mut shutdown = state.shutdown_signal();
        let reason = tokio::select! {
            ended = pumping => ended.err().unwrap_or("done"),
            // The stream lives as long as its token, like a STOMP session;
            // this also ends a replay stuck on a client that stopped reading.
            _ = tokio::time::sleep(left) => {
                crate::metrics::auth_failure("sse_token_expired");
                let _ = tokio::time::timeout(END_WRITE_TIMEOUT, tx.send(Bytes::from_static(
                    b"event: error\ndata: {\"code\":\"token_expired\"}\n\n",
                )))
                .await;
                "token expired"
            }
            _ = login.ended() => {
                let _ = tokio::time::timeout(END_WRITE_TIMEOUT, tx.send(Bytes::from_static(
                    b"event: error\ndata: {\"code\":\"session_revoked\"}\n\n",
                )))
                .await;
                "login ended"
            }
            _ = shutdown.wait_for(|s| *s) => "shutdown",
        };
        tracing::debug!(reason, stream = what, "event stream ended");
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, Infallible>(chunk), rx))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}
