//! Chat without WebSocket (the README, "Chat over plain HTTP"): posting over HTTP and
//! Server-Sent Events. Both use the same send path, broker and resume logic
//! as STOMP, so messages flow between the two in both directions.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

use super::sse::{self, KEEP_ALIVE};
use super::writing::{charge_send, chat_error, enter, enter_to_write};
use crate::auth::AuthUser;
use crate::broker::{Published, RoomFeed};
use crate::chat::Post;
use crate::domain::{Attachments, ClientId, MessageBody};
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::responses::{InternalError, JsonBodyRefused, RoomNotFound, Unauthorized};
use crate::replay::{self, Replay};
use crate::state::AppState;
use crate::store::{Appended, Room};
use crate::viewers::Viewer;
use crate::views::{EventView, MessageView};
use crate::webhooks::commands::{CommandError, Invocation};

// The body of `POST /rooms/{name}/messages` (a plain comment: a doc comment
// would become the schema's description).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// 1 to `MAX_BODY_BYTES` (default 4096) bytes of UTF-8, without U+0000;
    /// may be empty (or left out) when `attachments` is not.
    #[serde(default)]
    #[schema(pattern = r"^[^\u0000]*$", example = "hello")]
    body: String,
    /// Ids of files the sender uploaded to this room and has not attached
    /// yet (at most 10).
    #[serde(default)]
    #[schema(max_items = 10, example = json!([]))]
    attachments: Vec<String>,
    /// The seq of a message of this room this one replies to.
    #[serde(default, deserialize_with = "super::integer::optional")]
    #[schema(example = 7, minimum = 1)]
    reply_to: Option<i64>,
}

/// Post a message; answers after it is committed.
///
/// The same send path as STOMP SEND: the message reaches STOMP and SSE
/// subscribers. Posting to a public room joins it. When the sender's rate
/// bucket (`SEND_RATE`/`SEND_BURST`) is empty the request is held until it
/// refills, or answered 429 if that would take over 5 s.
#[utoipa::path(
    tag = "messages",
    operation_id = "post_message",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        // `pattern`: a header value is visible ASCII and spaces, without
        // spaces at its ends (HTTP strips them).
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 64, pattern = r"^[\u0021-\u007e](?:[\u0020-\u007e]*[\u0021-\u007e])?$",
            description = "1–64 characters, no control characters; acts as the STOMP `client-id`: a retry with the \
                same key (same sender and room) stores nothing and answers 200 with the \
                original message"),
    ),
    responses(
        (status = 201, description = "Stored: the `message` event; for a message invoking one \
            of the room's slash commands (`/NAME …`), nothing of it is stored and this is the \
            command's stored answer (from `webhook:NAME`)", body = MessageView),
        (status = 200, description = "A retry with an `Idempotency-Key` already used: the \
            original message, nothing stored", body = MessageView),
        (status = 400, description = "`invalid_body`: empty, over `MAX_BODY_BYTES` or \
            containing U+0000; `invalid_idempotency_key`: `Idempotency-Key` not 1–64 \
            characters, or containing a control character; `invalid_reply`: `reply_to` is \
            not the seq of a message of this room; `invalid_attachment`: more than 10, or one \
            that is not a file the sender uploaded to this room and has not attached yet; \
            `invalid_request`: malformed JSON, an \
            unknown field or a missing one", body = ErrorBody),
        Unauthorized,
        RoomNotFound,
        JsonBodyRefused,
        (status = 429, description = "`rate_limited`: the sender's rate bucket would take \
            over 5 s to refill", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry may succeed"))),
        InternalError,
        (status = 502, description = "`command_failed`: the slash command answered an error \
            or no JSON `{\"text\"}` message", body = ErrorBody),
        (status = 503, description = "`unavailable`: the send task failed; the message may \
            or may not be stored (retry with the same `Idempotency-Key`)", body = ErrorBody),
        (status = 504, description = "`command_timeout`: the slash command did not answer \
            within 10 s", body = ErrorBody),
    ),
)]
#[post("/rooms/{name}/messages")]
pub async fn post_message(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
    body: web::Json<PostMessage>,
) -> Result<HttpResponse, ApiError> {
    let client_id = req
        .headers()
        .get("idempotency-key")
        .map(|v| {
            // Not visible ASCII (to_str fails): control characters or
            // opaque bytes.
            let text = v.to_str().map_err(|_| {
                "Idempotency-Key must be ASCII text without control characters".to_string()
            })?;
            ClientId::parse(text).map_err(|e| e.replace("client id", "Idempotency-Key"))
        })
        .transpose()
        .map_err(|message| ApiError::bad_request("invalid_idempotency_key", message))?;
    let attachments = Attachments::parse(&body.attachments)
        .map_err(|m| ApiError::bad_request("invalid_attachment", m))?;
    let text = MessageBody::parse_with(
        body.body.as_bytes(),
        state.config.limits.max_body_bytes,
        &attachments,
    )
    .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
    let room = enter_to_write(&state, &user, &name).await?;
    // `reply_to` is checked under the room's lock (`invalid_reply`).
    charge_send(&state, &user)?.await;
    if let Some(call) = state.commands.invoked(&room, text.as_str()).await? {
        return run_command(&state, &room, &user, &call).await;
    }
    let post = Post {
        room,
        body: text,
        client_id,
        reply_to: body.reply_to,
        attachments,
    };
    let appended = state
        .chat
        .post(&user, vec![post])
        .await
        .map_err(chat_error)?
        .pop()
        .ok_or(ApiError::Unavailable)?;
    Ok(match &appended {
        Appended::Stored(m) => HttpResponse::Created().json(EventView::from(m)),
        Appended::Duplicate(m) => HttpResponse::Ok().json(EventView::from(m)),
        Appended::Refused(refusal) => return Err((*refusal).into()),
    })
}

/// A slash command the message invoked (README, "Bots and webhooks"):
/// 201 with its stored answer, 504 `command_timeout`, 502 `command_failed`.
async fn run_command(
    state: &AppState,
    room: &Room,
    user: &AuthUser,
    call: &Invocation,
) -> Result<HttpResponse, ApiError> {
    match state.commands.run(room, user, call).await {
        Ok(Appended::Stored(m) | Appended::Duplicate(m)) => {
            Ok(HttpResponse::Created().json(EventView::from(&m)))
        }
        Ok(Appended::Refused(refusal)) => Err(refusal.into()),
        Err(CommandError::Timeout) => Err(ApiError::CommandTimeout),
        Err(CommandError::Failed(why)) => Err(ApiError::CommandFailed(format!(
            "the command failed: {why}"
        ))),
        Err(CommandError::Chat(e)) => Err(chat_error(e)),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Resume after this seq (like STOMP `since-seq`); `Last-Event-ID` wins
    /// when both are given.
    #[param(value_type = Option<i64>, minimum = 0)]
    since_seq: Option<String>,
}

/// One event of the stream: `id:` its seq (none for `access_revoked`, which
/// has none, so the client's `Last-Event-ID` stays), `event:` its type.
fn sse_event(event: &Published) -> Bytes {
    let json = &event.json;
    let mut out = Vec::with_capacity(json.len() + 48);
    if !event.revokes {
        out.extend_from_slice(format!("id: {}\n", event.seq).as_bytes());
    }
    out.extend_from_slice(format!("event: {}\ndata: ", event.event_type).as_bytes());
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// Server-Sent Events: the room's messages as they are committed.
///
/// One `event: message` per message, `id:` = its seq, `data:` = the
/// message JSON. With `Last-Event-ID` (or `?since_seq=`) every stored
/// message after that seq comes first, then live ones, with no gap and no
/// duplicate. A resume below the room's retention horizon starts with an
/// `event: horizon` (`id:` and `data.horizon_seq` = the horizon H; the
/// events up to H are pruned), then replays from H + 1. A comment line every 15 s keeps proxies from closing the
/// stream; it ends at shutdown, when the client falls too far behind, or
/// when the access token expires (a last `event: error` with
/// `data: {"code":"token_expired"}`: reconnect with a fresh token and
/// `Last-Event-ID`) or its login is ended (`{"code":"session_revoked"}`:
/// signed out). Opening it joins a public room. It counts against
/// `MAX_CONNECTIONS_PER_USER` while open.
#[utoipa::path(
    tag = "messages",
    operation_id = "stream_events",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        EventsQuery,
        ("Last-Event-ID" = Option<i64>, Header, nullable = false, minimum = 0,
            description = "Resume after this seq; sent by `EventSource` on reconnect"),
    ),
    responses(
        (status = 200, description = "The event stream: `retry: 2000`, then \
            `id: SEQ` / `event: message` / `data: {message JSON}` blocks (a resume below \
            the retention horizon H first gets `id: H` / `event: horizon` / \
            `data: {\"type\":\"horizon\",\"room\":…,\"horizon_seq\":H}`)",
            content_type = "text/event-stream",
            body = crate::http::openapi::ServerSentEvent),
        (status = 400, description = "`invalid_query`: `Last-Event-ID` / `since_seq` not a \
            non-negative integer, or a malformed query string", body = ErrorBody),
        Unauthorized,
        RoomNotFound,
        (status = 429, description = "`too_many_connections`: the user already has \
            `MAX_CONNECTIONS_PER_USER` WebSockets, event streams and held long polls open \
            on this instance", body = ErrorBody),
        InternalError,
    ),
)]
#[get("/rooms/{name}/events")]
pub async fn events(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let parse_since = |v: &str| {
        v.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    "Last-Event-ID / since_seq must be a non-negative integer",
                )
            })
    };
    // Both are checked, though `Last-Event-ID` wins: a bad `since_seq` is
    // refused whether or not the header is there.
    let since_query = query.since_seq.as_deref().map(parse_since).transpose()?;
    let since = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(parse_since)
        .transpose()?
        .or(since_query);
    let slot = state
        .connections
        .try_open(user.id)
        .ok_or(ApiError::TooManyConnections)?;
    let broker = state.chat.broker();
    let mark = state.revocations.mark();
    let room = enter(&state, &user, &name).await?;
    let viewer = state.viewers.of(user.id).await?;
    // Register before reading history: every message is in one or the other.
    let feed = RoomFeed::open(
        broker,
        &room,
        Arc::clone(&viewer),
        state.config.limits.outbound_queue,
    )
    .await;
    // Access lost while registering: the revocation may have missed it.
    if state.revocations.revoked_since(room.id, user.id, mark) {
        return Err(ApiError::RoomNotFound);
    }
    let presence = state.presence.arrive(user.id, &user.username);
    let login = state.logins.watch(user.login);
    let state = state.into_inner();
    let pumping = Arc::clone(&state);
    Ok(sse::respond(
        state,
        user.expires_at,
        login,
        (slot, presence),
        "room",
        move |tx| async move { pump_events(&pumping, room, &viewer, feed, since, &tx).await },
    ))
}

/// Replays from `since`, then forwards live messages, with keep-alives,
/// until the client leaves or falls behind (the caller also ends it at
/// shutdown and token expiry).
async fn pump_events(
    state: &AppState,
    room: Room,
    viewer: &Viewer,
    mut feed: RoomFeed,
    since: Option<i64>,
    tx: &mpsc::Sender<Bytes>,
) -> Result<(), &'static str> {
    let send = |chunk: Bytes| async move { tx.send(chunk).await.map_err(|_| "client gone") };
    send(Bytes::from_static(b"retry: 2000\n: connected\n\n")).await?;
    let mut last = since;
    if let Some(since) = since {
        let mut replay = Replay::after(state.store.clone(), room.id, since);
        while let Some(page) = replay
            .next_page(replay::PAGE)
            .await
            .map_err(|_| "replay failed")?
        {
            // Resuming below the retention horizon: say what is gone first.
            if let Some(horizon) = replay.passed_horizon() {
                send(sse_event(&Published::horizon(room.id, &room.name, horizon))).await?;
            }
            for e in &page {
                let published = Published::new_for(room.id, e, viewer);
                send(sse_event(&published)).await?;
            }
        }
        last = Some(replay.position());
    }
    let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
    keep_alive.tick().await;
    loop {
        tokio::select! {
            _ = feed.overflow.notified() => return Err("slow consumer"),
            _ = tx.closed() => return Err("client gone"),
            _ = keep_alive.tick() => send(Bytes::from_static(b": keep-alive\n\n")).await?,
            delivery = feed.queue.recv() => {
                let Some(d) = delivery else { return Err("feed closed") };
                if d.message.revokes {
                    send(sse_event(&d.message)).await?;
                    return Err("access revoked");
                }
                if last.is_some_and(|l| d.message.seq <= l) {
                    continue; // already sent by the replay
                }
                last = Some(d.message.seq);
                send(sse_event(&d.message)).await?;
            }
        }
    }
}
