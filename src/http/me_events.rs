//! `GET /api/v1/me/events`: the user destination over Server-Sent Events
//! (README, "Staying signed in"), the same updates as STOMP's
//! `/user/queue/updates`: `event: room_added | room_removed |
//! room_updated`, `data:` the update's JSON. Nothing is stored, so there
//! is no `id:` and no resume: a client that reconnects reads `GET /rooms`.

use std::sync::Arc;

use actix_web::{HttpResponse, get, web};
use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

use super::sse::{self, KEEP_ALIVE};
use crate::auth::AuthUser;
use crate::broker::{Delivery, Recipient};
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::responses::{InternalError, Unauthorized};
use crate::state::AppState;
use crate::stomp::{SubscriptionHeader, Version};

/// Server-Sent Events: changes of the caller's own room list, live.
///
/// `event: room_added` (`data: {"type":"room_added","room":{room}}`: joined,
/// added by someone, a direct conversation opened), `event: room_removed`
/// (`data: {"type":"room_removed","room":NAME,"reason":"left"|"removed"|
/// "banned"|"room_deleted"}`), `event: room_updated` (`data:
/// {"type":"room_updated","room":{room}}`: the caller's role changed) and
/// `event: user_updated` (`data: {"type":"user_updated","user":{user}}`: the
/// caller or someone who shares a room with them changed their profile), from
/// any instance, within 2 s. The room object is the one `GET /rooms/{name}`
/// gives the caller. Nothing is stored: no `id:`, no resume. A comment line
/// every 15 s keeps proxies from closing the stream; it ends at shutdown,
/// when the client falls too far behind, or when the access token expires
/// (a last `event: error` with `data: {"code":"token_expired"}`) or its
/// login is ended (`{"code":"session_revoked"}`). It keeps
/// the caller online and counts against `MAX_CONNECTIONS_PER_USER`.
#[utoipa::path(
    tag = "rooms",
    operation_id = "stream_my_updates",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The event stream: `retry: 2000`, then \
            `event: room_added|room_removed|room_updated|user_updated` / \
            `data: {update JSON}` blocks",
            content_type = "text/event-stream", body = String),
        Unauthorized,
        (status = 429, description = "`too_many_connections`: the user already has \
            `MAX_CONNECTIONS_PER_USER` WebSockets, event streams and held long polls open \
            on this instance", body = ErrorBody),
        InternalError,
    ),
)]
#[get("/me/events")]
pub async fn my_events(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let slot = state
        .connections
        .try_open(user.id)
        .ok_or(ApiError::TooManyConnections)?;
    let (queue_tx, mut queue) = mpsc::channel::<Delivery>(state.config.limits.outbound_queue);
    let overflow = Arc::new(Notify::new());
    let recipient = Arc::new(Recipient {
        id: String::new(),
        room: Box::from(""),
        header: SubscriptionHeader::new(Version::V1_2, ""),
        wants_ack: false,
    });
    let listening = state
        .user_updates
        .listen(user.id, recipient, queue_tx, Arc::clone(&overflow));
    let presence = state.presence.arrive(user.id, &user.username);
    let login = state.logins.watch(user.login);
    Ok(sse::respond(
        state.into_inner(),
        user.expires_at,
        login,
        (slot, presence, listening),
        "user",
        move |tx| async move { pump(&mut queue, &overflow, &tx).await },
    ))
}

/// Forwards the listener's updates, with keep-alives, until the client
/// leaves or falls behind (the caller also ends it at shutdown and token
/// expiry).
async fn pump(
    queue: &mut mpsc::Receiver<Delivery>,
    overflow: &Notify,
    tx: &mpsc::Sender<Bytes>,
) -> Result<(), &'static str> {
    let send = |chunk: Bytes| async move { tx.send(chunk).await.map_err(|_| "client gone") };
    send(Bytes::from_static(b"retry: 2000\n: connected\n\n")).await?;
    let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
    keep_alive.tick().await;
    loop {
        tokio::select! {
            _ = overflow.notified() => return Err("slow consumer"),
            _ = tx.closed() => return Err("client gone"),
            _ = keep_alive.tick() => send(Bytes::from_static(b": keep-alive\n\n")).await?,
            delivery = queue.recv() => {
                let Some(d) = delivery else { return Err("listener closed") };
                send(sse_event(d.message.event_type, &d.message.json)).await?;
            }
        }
    }
}

/// One update as an SSE event: `event:` its type, `data:` its JSON.
fn sse_event(event_type: &str, json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + 32);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event_type.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}
