//! Changing a room's log over REST (README, "The room log"): read one
//! event, edit or delete a message, add or remove a reaction. Each write
//! takes the same path as a SEND (visibility, joining a public room, the
//! send rate, the committer, publishing) and is answered after commit with
//! the event it stored.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, put, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::responses::{InternalError, JsonBodyRefused, Unauthorized};
use super::rooms::find_visible;
use super::writing::{charge_send, chat_error, enter_to_write, parse_body};
use crate::auth::AuthUser;
use crate::domain::ReactionKey;
use crate::error::{ApiError, Body as ErrorBody};
use crate::state::AppState;
use crate::store::{Appended, Refusal};
use crate::views::{DeleteView, EditView, EventView, ReactionEventView};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    /// The new text: the same rules as a message body.
    #[schema(min_length = 1, pattern = r"^[^\u0000]+$", example = "hi @bob!")]
    body: String,
}

/// A seq in a path: anything but a positive integer names no message.
fn parse_seq(seq: &str) -> Result<i64, ApiError> {
    crate::domain::parse_seq(seq, 1).ok_or(Refusal::MessageNotFound.into())
}

/// The reaction key of the request's path. It is the last segment, decoded
/// here from the raw path: the router's decoding replaces bytes that are not
/// UTF-8, and such a key must be refused, not stored altered.
fn parse_key(req: &HttpRequest) -> Result<ReactionKey, ApiError> {
    let invalid = |e: &str| ApiError::bad_request("invalid_reaction", e.to_string());
    let raw = req.uri().path().rsplit('/').next().unwrap_or_default();
    let key = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| invalid("a reaction key must be UTF-8"))?;
    ReactionKey::parse(&key).map_err(invalid)
}

/// 200 with the stored (or original) event, or the refusal.
fn answer(appended: Appended) -> Result<HttpResponse, ApiError> {
    match &appended {
        Appended::Stored(e) | Appended::Duplicate(e) => {
            Ok(HttpResponse::Ok().json(EventView::from(e)))
        }
        Appended::Refused(refusal) => Err((*refusal).into()),
    }
}

/// One event of the room's log; a `message` in its current state.
#[utoipa::path(
    tag = "messages",
    operation_id = "get_message",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        ("seq" = i64, Path, minimum = 1, description = "The event's seq"),
    ),
    responses(
        (status = 200, description = "The event", body = EventView),
        Unauthorized,
        (status = 404, description = "`room_not_found`: no such room, or a private room the \
            caller is not a member of; `message_not_found`: no event with that seq", body = ErrorBody),
    ),
)]
#[get("/rooms/{name}/messages/{seq}")]
pub async fn get_event(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, seq) = path.into_inner();
    let room = find_visible(&state, &name, &user).await?.room;
    let seq = parse_seq(&seq)?;
    let event = state.store.event(room.id, seq).await?;
    let event = event.ok_or(ApiError::from(Refusal::MessageNotFound))?;
    let viewer = state.viewers.of(user.id).await?;
    let hidden = viewer.blocks(&event.sender);
    Ok(HttpResponse::Ok().json(EventView::seen(&event, hidden)))
}

/// Edit a message (its sender only); answers with the `edit` event.
#[utoipa::path(
    tag = "messages",
    operation_id = "edit_message",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        ("seq" = i64, Path, minimum = 1, description = "The message's seq"),
    ),
    request_body = Edit,
    responses(
        JsonBodyRefused,
        (status = 200, description = "Stored: the `edit` event", body = EditView),
        (status = 400, description = "`invalid_body`: empty, over `MAX_BODY_BYTES` or \
            containing U+0000; `invalid_request`: malformed JSON", body = ErrorBody),
        Unauthorized,
        (status = 403, description = "`forbidden`: not the message's sender", body = ErrorBody),
        (status = 404, description = "`room_not_found`: no such room, or a private room the \
            caller is not a member of; `message_not_found`: no such seq, or not a `message` event", body = ErrorBody),
        (status = 409, description = "`message_deleted`: the message is deleted", body = ErrorBody),
        (status = 429, description = "`rate_limited`: the send rate, as for a message", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry may succeed"))),
        InternalError,
    ),
)]
#[patch("/rooms/{name}/messages/{seq}")]
pub async fn edit_message(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
    body: web::Json<Edit>,
) -> Result<HttpResponse, ApiError> {
    let (name, seq) = path.into_inner();
    let text = parse_body(&state, &body.body)?;
    let room = enter_to_write(&state, &user, &name).await?;
    let seq = parse_seq(&seq)?;
    charge_send(&state, &user)?.await;
    let appended = state.chat.edit(&user, &room, seq, text).await;
    answer(appended.map_err(chat_error)?)
}

/// Delete a message (its sender, or the room's owner): its text, the text
/// of its edits and its reactions are erased. Answers with the `delete`
/// event.
#[utoipa::path(
    tag = "messages",
    operation_id = "delete_message",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        ("seq" = i64, Path, minimum = 1, description = "The message's seq"),
    ),
    responses(
        (status = 200, description = "Stored: the `delete` event", body = DeleteView),
        Unauthorized,
        (status = 403, description = "`forbidden`: neither the sender nor the room's owner", body = ErrorBody),
        (status = 404, description = "`room_not_found`: no such room, or a private room the caller is not a member of; `message_not_found`: no such seq, or not a `message` event", body = ErrorBody),
        (status = 409, description = "`message_deleted`: deleted already", body = ErrorBody),
        (status = 429, description = "`rate_limited`: the send rate, as for a message", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry may succeed"))),
        InternalError,
    ),
)]
#[delete("/rooms/{name}/messages/{seq}")]
pub async fn delete_message(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, seq) = path.into_inner();
    let room = enter_to_write(&state, &user, &name).await?;
    let seq = parse_seq(&seq)?;
    charge_send(&state, &user)?.await;
    let appended = state.chat.delete(&user, &room, seq).await;
    answer(appended.map_err(chat_error)?)
}

async fn react(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String, String)>,
    added: bool,
) -> Result<HttpResponse, ApiError> {
    let (name, seq, _) = path.into_inner();
    let key = parse_key(&req)?;
    let room = enter_to_write(&state, &user, &name).await?;
    let seq = parse_seq(&seq)?;
    charge_send(&state, &user)?.await;
    let appended = state.chat.react(&user, &room, seq, key, added).await;
    answer(appended.map_err(chat_error)?)
}

// The pattern of a reaction key in the document (both reaction routes):
// no Unicode White_Space (Rust's `char::is_whitespace`), no control
// character (`char::is_control`: U+0000–U+001F, U+007F–U+009F), as
// `ReactionKey::parse` checks.

/// React to a message; a reaction the caller already has answers with the
/// original event and stores nothing.
#[utoipa::path(
    tag = "messages",
    operation_id = "add_reaction",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        ("seq" = i64, Path, minimum = 1, description = "The message's seq"),
        ("key" = String, Path, min_length = 1, max_length = 32, pattern = r"^[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$",
            description = "Percent-encoded: 1–32 bytes of UTF-8 without \
            whitespace or control characters, e.g. 👍 (`maxLength` counts characters: \
            the limit is 32 bytes)"),
    ),
    responses(
        (status = 200, description = "The `reaction` event (`added: true`)", body = ReactionEventView),
        (status = 400, description = "`invalid_reaction`: the key is not 1–32 bytes of UTF-8 without whitespace or control characters", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`room_not_found`: no such room, or a private room the caller is not a member of; `message_not_found`: no such seq, or not a `message` event", body = ErrorBody),
        (status = 409, description = "`message_deleted`: the message is deleted", body = ErrorBody),
        (status = 429, description = "`rate_limited`: the send rate, as for a message", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry may succeed"))),
        InternalError,
    ),
)]
#[put("/rooms/{name}/messages/{seq}/reactions/{key}")]
pub async fn add_reaction(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    react(req, state, user, path, true).await
}

/// Remove the caller's reaction; answers with a new `reaction` event
/// (`added: false`).
#[utoipa::path(
    tag = "messages",
    operation_id = "remove_reaction",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        ("seq" = i64, Path, minimum = 1, description = "The message's seq"),
        ("key" = String, Path, min_length = 1, max_length = 32, pattern = r"^[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$",
            description = "Percent-encoded reaction key (1–32 bytes, as for adding it)"),
    ),
    responses(
        (status = 200, description = "The `reaction` event (`added: false`)", body = ReactionEventView),
        (status = 400, description = "`invalid_reaction`: the key is not 1–32 bytes of UTF-8 without whitespace or control characters", body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`room_not_found`: no such room, or a private room the \
            caller is not a member of; `message_not_found`: no such seq, or not a `message` event; \
            `reaction_not_found`: the caller has no such reaction", body = ErrorBody),
        (status = 409, description = "`message_deleted`: the message is deleted", body = ErrorBody),
        (status = 429, description = "`rate_limited`: the send rate, as for a message", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry may succeed"))),
        InternalError,
    ),
)]
#[delete("/rooms/{name}/messages/{seq}/reactions/{key}")]
pub async fn remove_reaction(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    react(req, state, user, path, false).await
}
