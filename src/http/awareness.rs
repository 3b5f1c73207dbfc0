//! What members know of each other in a room (README, "Read markers,
//! unread counts, typing and presence"): moving one's read marker, saying
//! one is typing, and who is online.

use actix_web::{HttpResponse, get, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rooms::find_visible;
use crate::access::VisibleRoom;
use crate::auth::AuthUser;
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::responses::{InternalError, JsonBodyRefused, RoomNotFound, Unauthorized};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// Everything up to this seq is read (clamped to the room's last seq).
    #[serde(deserialize_with = "super::integer::required")]
    #[schema(minimum = 0, example = 42)]
    seq: i64,
}

/// Where the caller's read marker now is.
#[derive(Serialize, ToSchema)]
#[schema(as = ReadMarker)]
struct Marker {
    #[schema(example = 42)]
    last_read_seq: i64,
}

fn not_a_member() -> ApiError {
    ApiError::NotAMember
}

/// The room, which the caller must be a member of (403 `not_a_member`).
pub(super) async fn as_member(
    state: &AppState,
    name: &str,
    user: &AuthUser,
) -> Result<VisibleRoom, ApiError> {
    let found = find_visible(state, name, user).await?;
    if !found.is_member() {
        return Err(not_a_member());
    }
    Ok(found)
}

/// The members of a room who are online.
#[derive(Serialize, ToSchema)]
#[schema(as = Presence)]
struct Online {
    /// Usernames, sorted.
    #[schema(example = json!(["alice", "bob"]))]
    online: Vec<String>,
}

/// The room's members who are online now: holding a WebSocket or an event
/// stream on any instance.
#[utoipa::path(
    tag = "members",
    operation_id = "presence",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    responses(
        (status = 200, description = "The members online, sorted", body = Online),
        Unauthorized,
        RoomNotFound,
        InternalError,
    ),
)]
#[get("/rooms/{name}/presence")]
pub async fn presence(
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let found = find_visible(&state, &name, &user).await?;
    let members = state.store.members(found.room.id).await?;
    let mut online: Vec<String> = members
        .into_iter()
        .filter(|m| state.presence.is_online(m.user.id))
        .map(|m| m.user.username)
        .collect();
    online.sort();
    Ok(HttpResponse::Ok().json(Online { online }))
}

/// Move the caller's read marker: never backwards, never past the room's
/// last seq. Announced to the room's activity (`read`).
#[utoipa::path(
    tag = "members",
    operation_id = "mark_read",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    request_body = MarkRead,
    responses(
        (status = 200, description = "The marker: max(previous, min(seq, the room's last seq))",
            body = Marker),
        (status = 400, description = "`invalid_seq`: a negative seq; `invalid_request`: \
            malformed JSON, an unknown field or a missing one", body = ErrorBody),
        Unauthorized,
        (status = 403, description = "`not_a_member`: the caller can see the room but is not \
            a member", body = ErrorBody),
        RoomNotFound,
        JsonBodyRefused,
        InternalError,
    ),
)]
#[put("/rooms/{name}/read")]
pub async fn mark_read(
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
    body: web::Json<MarkRead>,
) -> Result<HttpResponse, ApiError> {
    if body.seq < 0 {
        return Err(ApiError::bad_request(
            "invalid_seq",
            "seq must be a non-negative integer",
        ));
    }
    let found = as_member(&state, &name, &user).await?;
    let marker = state
        .read_markers
        .mark(found.room.id, user.id, &user.username, body.seq)
        .await?
        .ok_or_else(not_a_member)?;
    Ok(HttpResponse::Ok().json(Marker {
        last_read_seq: marker,
    }))
}

/// Say the caller is typing: announced to the room's activity (`typing`),
/// never stored. At most `TYPING_RATE` per second per user and room; extra
/// ones are dropped silently.
#[utoipa::path(
    tag = "members",
    operation_id = "typing",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    responses(
        (status = 204, description = "Announced (or dropped by the rate)"),
        Unauthorized,
        (status = 403, description = "`not_a_member`: the caller can see the room but is not \
            a member", body = ErrorBody),
        RoomNotFound,
        InternalError,
    ),
)]
#[post("/rooms/{name}/typing")]
pub async fn typing(
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let found = as_member(&state, &name, &user).await?;
    let limiter = state.typing_limiter.as_ref();
    crate::typing::announce(limiter, state.chat.broker(), &user, &found.room);
    Ok(HttpResponse::NoContent().finish())
}
