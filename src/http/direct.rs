//! Direct conversations and blocking (README, "Members, moderation and
//! blocking"): `POST /dms` opens (or finds) the one private room of two
//! users; `/me/blocks` lists, adds and removes the users whose events reach
//! the caller only as `hidden` placeholders.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::members::NamedUser;
use super::rooms::room_response;
use crate::auth::AuthUser;
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::responses::{InternalError, JsonBodyRefused, Unauthorized};
use crate::state::AppState;
use crate::store::User;
use crate::views::{RoomView, UserView};

/// The users the caller blocks.
#[derive(Serialize, ToSchema)]
#[schema(as = BlockList)]
struct Blocks<'a> {
    blocks: Vec<UserView<'a>>,
}

/// Another user than the caller, named `name`: 400 `invalid_username` for
/// the caller, 404 `user_not_found` for nobody.
async fn other_user(state: &AppState, caller: &AuthUser, name: &str) -> Result<User, ApiError> {
    let user = state
        .store
        .user_by_name(name)
        .await?
        .ok_or(ApiError::UserNotFound)?;
    if user.id == caller.id {
        return Err(ApiError::bad_request(
            "invalid_username",
            "that is you: name another user",
        ));
    }
    Ok(user)
}

/// Open the direct conversation with a user, or return it if it exists
/// (whichever of the two asks first, and when both ask at once).
///
/// A private room of exactly the two of them, `kind: "direct"`, named
/// `dm-<smaller id>-<larger id>`, with no owner; its membership never
/// changes.
#[utoipa::path(
    tag = "direct",
    operation_id = "open_direct",
    security(("bearer" = [])),
    request_body = NamedUser,
    responses(
        (status = 201, description = "Created", body = RoomView),
        (status = 200, description = "It existed", body = RoomView),
        (status = 400, description = "`invalid_username`: the caller's own name; \
            `invalid_request`: malformed JSON, an unknown field or a missing one",
            body = ErrorBody),
        Unauthorized,
        (status = 403, description = "`blocked`: the user blocks the caller", body = ErrorBody),
        (status = 404, description = "`user_not_found`: no user of that name", body = ErrorBody),
        JsonBodyRefused,
        InternalError,
    ),
)]
#[post("/dms")]
pub async fn open(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<NamedUser>,
) -> Result<HttpResponse, ApiError> {
    let peer = other_user(&state, &user, body.username()).await?;
    if state.store.is_blocked(peer.id, user.id).await? {
        return Err(ApiError::Blocked);
    }
    let (room, created) = state.store.open_direct(user.id, peer.id).await?;
    let status = if created {
        tracing::info!(room = %room.name, "direct conversation opened");
        // A new room in both users' lists (the user destination).
        for who in [(peer.id, peer.username.as_str()), (user.id, &user.username)] {
            state.user_updates.room_added(who, &room).await;
        }
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    room_response(&state, &user, &room, status).await
}

/// The users the caller blocks, by username.
#[utoipa::path(
    tag = "direct",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The blocked users", body = Blocks),
        Unauthorized,
        InternalError,
    ),
)]
#[get("/me/blocks")]
pub async fn list_blocks(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let blocks = state.store.blocks(user.id).await?;
    Ok(HttpResponse::Ok().json(Blocks {
        blocks: blocks.iter().map(|u| state.user_views.user(u)).collect(),
    }))
}

/// Block a user; idempotent. From then on their events reach the caller
/// only as `hidden` placeholders (live, replays, streams, history), they
/// cannot open a direct conversation with the caller, and their writes to
/// it are refused (403 `blocked`).
#[utoipa::path(
    tag = "direct",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "The user to block")),
    responses(
        (status = 204, description = "Blocked"),
        (status = 400, description = "`invalid_username`: the caller's own name",
            body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`user_not_found`: no user of that name", body = ErrorBody),
        InternalError,
    ),
)]
#[put("/me/blocks/{username}")]
pub async fn block(
    state: web::Data<AppState>,
    user: AuthUser,
    username: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let blocked = other_user(&state, &user, &username).await?;
    state.store.block(user.id, blocked.id).await?;
    state.membership.blocks_changed(user.id).await;
    Ok(HttpResponse::NoContent().finish())
}

/// Unblock a user; idempotent. Their new events reach the caller again,
/// and history shows their events.
#[utoipa::path(
    tag = "direct",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "The user to unblock")),
    responses(
        (status = 204, description = "Not blocked (any more)"),
        (status = 400, description = "`invalid_username`: the caller's own name",
            body = ErrorBody),
        Unauthorized,
        (status = 404, description = "`user_not_found`: no user of that name", body = ErrorBody),
        InternalError,
    ),
)]
#[delete("/me/blocks/{username}")]
pub async fn unblock(
    state: web::Data<AppState>,
    user: AuthUser,
    username: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let blocked = other_user(&state, &user, &username).await?;
    state.store.unblock(user.id, blocked.id).await?;
    state.membership.blocks_changed(user.id).await;
    Ok(HttpResponse::NoContent().finish())
}
