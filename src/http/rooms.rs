//! Rooms: create, list, look up, join, members.

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::{VisibleRoom, visible_room};
use crate::auth::AuthUser;
use crate::domain::RoomName;
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::responses::{
    InternalError, InvalidRequest, JsonBodyRefused, RoomNotFound, Unauthorized,
};
use crate::state::AppState;
use crate::views::{RoomView, UserView};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    /// 1–64 characters of `a-z 0-9 _ -`.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[a-z0-9_-]{1,64}$",
        example = "general"
    )]
    name: String,
    /// A private room is invisible to non-members; members are added by the owner.
    #[serde(default)]
    #[schema(default = false)]
    private: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// The user to add (any letter case).
    #[schema(example = "bob")]
    username: String,
}

/// Public rooms and the rooms the caller belongs to.
#[derive(Serialize, ToSchema)]
#[schema(as = RoomList)]
struct Rooms<'a> {
    rooms: Vec<RoomView<'a>>,
}

/// The members of a room.
#[derive(Serialize, ToSchema)]
#[schema(as = MemberList)]
struct Members<'a> {
    members: Vec<UserView<'a>>,
}

/// The room if the caller may see it, else 404 `room_not_found`.
pub(crate) async fn find_visible(
    state: &AppState,
    name: &str,
    user: &AuthUser,
) -> Result<VisibleRoom, ApiError> {
    visible_room(state.store.as_ref(), name, user.id)
        .await?
        .ok_or(ApiError::RoomNotFound)
}

async fn members_response(state: &AppState, room_id: i64) -> Result<HttpResponse, ApiError> {
    let members = state.store.members(room_id).await?;
    Ok(HttpResponse::Ok().json(Members {
        members: members.iter().map(UserView::from).collect(),
    }))
}

/// Create a room; the caller becomes its owner and first member.
#[utoipa::path(
    tag = "rooms",
    operation_id = "create_room",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = RoomView),
        (status = 400, description = "`invalid_room_name`: not 1–64 characters of \
            `a-z 0-9 _ -`; `invalid_request`: malformed JSON, an unknown field or a \
            missing one", body = ErrorBody),
        Unauthorized,
        (status = 409, description = "`room_exists`: the name is taken", body = ErrorBody),
        JsonBodyRefused,
        InternalError,
    ),
)]
#[post("/rooms")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<CreateRoom>,
) -> Result<HttpResponse, ApiError> {
    let name =
        RoomName::parse(&body.name).map_err(|m| ApiError::bad_request("invalid_room_name", m))?;
    let room = state
        .store
        .create_room(&name, body.private, user.id)
        .await?;
    tracing::info!(room = %room.name, private = room.private, "room created");
    Ok(HttpResponse::Created().json(RoomView::from(&room)))
}

/// Public rooms and the rooms the caller belongs to.
#[utoipa::path(
    tag = "rooms",
    operation_id = "list_rooms",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The rooms", body = Rooms),
        Unauthorized,
        InternalError,
    ),
)]
#[get("/rooms")]
pub async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let rooms = state.store.rooms_visible_to(user.id).await?;
    Ok(HttpResponse::Ok().json(Rooms {
        rooms: rooms.iter().map(RoomView::from).collect(),
    }))
}

/// One room.
#[utoipa::path(
    tag = "rooms",
    operation_id = "get_room",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    responses(
        (status = 200, description = "The room", body = RoomView),
        Unauthorized,
        RoomNotFound,
        InternalError,
    ),
)]
#[get("/rooms/{name}")]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let found = find_visible(&state, &name, &user).await?;
    Ok(HttpResponse::Ok().json(RoomView::from(&found.room)))
}

/// Join a public room; idempotent.
///
/// A private room can only be joined by being added by its owner.
#[utoipa::path(
    tag = "rooms",
    operation_id = "join_room",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    responses(
        (status = 200, description = "The caller is a member", body = RoomView),
        Unauthorized,
        RoomNotFound,
        InternalError,
    ),
)]
#[post("/rooms/{name}/join")]
pub async fn join(
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // Private rooms are visible only to members, so anything found here that
    // the caller is not in yet is public and may be joined.
    let found = find_visible(&state, &name, &user).await?;
    if !found.is_member {
        state.store.add_member(found.room.id, user.id).await?;
    }
    Ok(HttpResponse::Ok().json(RoomView::from(&found.room)))
}

/// The members of a room.
#[utoipa::path(
    tag = "rooms",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    responses(
        (status = 200, description = "The members", body = Members),
        Unauthorized,
        RoomNotFound,
        InternalError,
    ),
)]
#[get("/rooms/{name}/members")]
pub async fn list_members(
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let found = find_visible(&state, &name, &user).await?;
    members_response(&state, found.room.id).await
}

/// Add a member (owner only); idempotent.
#[utoipa::path(
    tag = "rooms",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    responses(
        (status = 200, description = "The members, the added user included", body = Members),
        InvalidRequest,
        Unauthorized,
        (status = 403, description = "`forbidden`: the caller can see the room but is not \
            its owner", body = ErrorBody),
        (status = 404, description = "`room_not_found`: no such room, or a private room the \
            caller is not a member of; `user_not_found`: no user of that name",
            body = ErrorBody),
        JsonBodyRefused,
        InternalError,
    ),
)]
#[post("/rooms/{name}/members")]
pub async fn add_member(
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
    body: web::Json<AddMember>,
) -> Result<HttpResponse, ApiError> {
    let found = find_visible(&state, &name, &user).await?;
    if found.room.owner != user.username {
        // Non-members of a private room never get here (404 above); a
        // public room's non-member is told the same as a member: not owner.
        return Err(ApiError::Forbidden);
    }
    let target = state
        .store
        .user_by_name(&body.username)
        .await?
        .ok_or(ApiError::UserNotFound)?;
    state.store.add_member(found.room.id, target.id).await?;
    members_response(&state, found.room.id).await
}
