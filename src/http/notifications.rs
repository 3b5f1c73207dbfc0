//! A member's notification level and mute in a room (README,
//! "Notifications"): `GET` / `PUT /rooms/{name}/notifications`. A change is
//! announced on the caller's user destination (`room_updated`); what it
//! decides is read when a message is stored (`store/push.rs`).

use actix_web::{HttpResponse, get, put, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::awareness::as_member;
use crate::auth::AuthUser;
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::responses::{InternalError, JsonBodyRefused, RoomNotFound, Unauthorized};
use crate::state::AppState;
use crate::store::{Room, Timestamp};
use crate::views::NotificationsView;

/// A notification level.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum Level {
    /// Every message of the room.
    All,
    /// Messages that mention the caller (and, in a direct conversation,
    /// every message).
    Mentions,
    /// Nothing.
    None,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::All => "all",
            Level::Mentions => "mentions",
            Level::None => "none",
        }
    }
}

/// The caller's notification setting for the room.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SetNotifications)]
struct SetNotifications {
    level: Level,
    /// No notification before this time (RFC 3339); null or absent: not
    /// muted.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-11-24T19:00:00Z")]
    muted_until: Option<Timestamp>,
}

/// The caller's setting in `room`, as stored.
async fn setting(
    state: &AppState,
    user: &AuthUser,
    room: &Room,
) -> Result<NotificationsView, ApiError> {
    let read = state
        .store
        .read_states(user.id, &user.username, Some(room.id))
        .await?;
    let s = read.first().ok_or(ApiError::NotAMember)?;
    Ok(NotificationsView::of(
        room.direct.is_some(),
        s.notify_level.as_deref(),
        s.muted_until,
    ))
}

/// The caller's notification level and mute in the room.
#[utoipa::path(
    tag = "notifications",
    operation_id = "get_notifications",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    responses(
        (status = 200, description = "The setting", body = NotificationsView),
        Unauthorized,
        (status = 403, description = "`not_a_member`: the caller can see the room but is not \
            a member", body = ErrorBody),
        RoomNotFound,
        InternalError,
    ),
)]
#[get("/rooms/{name}/notifications")]
pub async fn get_notifications(
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let found = as_member(&state, &name, &user).await?;
    Ok(HttpResponse::Ok().json(setting(&state, &user, &found.room).await?))
}

/// Set the caller's notification level and mute in the room; announced as
/// `room_updated` on the caller's user destination.
#[utoipa::path(
    tag = "notifications",
    operation_id = "set_notifications",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    request_body = SetNotifications,
    responses(
        (status = 200, description = "The setting as stored", body = NotificationsView),
        (status = 400, description = "`invalid_request`: malformed JSON, a level other than \
            `all`, `mentions` or `none`, a time that is not RFC 3339, an unknown field or a \
            missing one", body = ErrorBody),
        Unauthorized,
        (status = 403, description = "`not_a_member`: the caller can see the room but is not \
            a member", body = ErrorBody),
        RoomNotFound,
        JsonBodyRefused,
        InternalError,
    ),
)]
#[put("/rooms/{name}/notifications")]
pub async fn set_notifications(
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
    body: web::Json<SetNotifications>,
) -> Result<HttpResponse, ApiError> {
    let found = as_member(&state, &name, &user).await?;
    let room = &found.room;
    // Stored at the precision both stores keep, so the answer is what a
    // later GET shows.
    let muted_until = body
        .muted_until
        .and_then(|t| chrono::DateTime::from_timestamp_millis(t.timestamp_millis()));
    let stored = state
        .store
        .set_notifications(room.id, user.id, Some(body.level.as_str()), muted_until)
        .await?;
    if !stored {
        return Err(ApiError::NotAMember);
    }
    state
        .user_updates
        .room_updated((user.id, &user.username), room)
        .await;
    Ok(HttpResponse::Ok().json(setting(&state, &user, room).await?))
}
