//! Rooms: create, list, look up, join (members: `members.rs`).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::{VisibleRoom, visible_room};
use crate::auth::AuthUser;
use crate::domain::RoomName;
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::responses::{InternalError, JsonBodyRefused, RoomNotFound, Unauthorized};
use crate::state::AppState;
use crate::store::{ReadState, Room};
use crate::views::RoomView;

use super::writing::enter;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    /// 1–64 characters of `a-z 0-9 _ -`, not starting with `dm-` (the names
    /// of direct conversations).
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^(?!dm-)[a-z0-9_-]{1,64}$",
        example = "general"
    )]
    name: String,
    /// A private room is invisible to non-members; members are added by the owner.
    #[serde(default)]
    #[schema(default = false)]
    private: bool,
}

/// Public rooms and the rooms the caller belongs to.
#[derive(Serialize, ToSchema)]
#[schema(as = RoomList)]
struct Rooms<'a> {
    rooms: Vec<RoomView<'a>>,
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

/// `room` as `user` sees it (with their read state), answered with `status`.
pub(crate) async fn room_response(
    state: &AppState,
    user: &AuthUser,
    room: &Room,
    status: StatusCode,
) -> Result<HttpResponse, ApiError> {
    let read = state
        .store
        .read_states(user.id, &user.username, Some(room.id))
        .await?;
    let view = RoomView::for_user(room, user.id, read.first());
    Ok(HttpResponse::build(status).json(view))
}

/// Create a room; the caller becomes its owner and first member.
#[utoipa::path(
    tag = "rooms",
    operation_id = "create_room",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = RoomView),
        (status = 400, description = "`invalid_room_name`: not 1–64 characters of \
            `a-z 0-9 _ -`, or starting with `dm-` (reserved); `invalid_request`: malformed JSON, an unknown field or a \
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
    if name.is_reserved() {
        return Err(ApiError::bad_request(
            "invalid_room_name",
            "room names starting with dm- are reserved for direct conversations",
        ));
    }
    let room = state
        .store
        .create_room(&name, body.private, user.id)
        .await?;
    tracing::info!(room = %room.name, private = room.private, "room created");
    let me = (user.id, user.username.as_str());
    state.user_updates.room_added(me, &room).await;
    room_response(&state, &user, &room, StatusCode::CREATED).await
}

/// Public rooms (but those the caller is banned from) and the rooms the
/// caller belongs to.
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
    // Two queries, however many rooms: the rooms, then the caller's read
    // state in each they belong to.
    let rooms = state.store.rooms_visible_to(user.id).await?;
    let states: HashMap<i64, ReadState> = state
        .store
        .read_states(user.id, &user.username, None)
        .await?
        .into_iter()
        .map(|s| (s.room_id, s))
        .collect();
    Ok(HttpResponse::Ok().json(Rooms {
        rooms: rooms
            .iter()
            .map(|r| RoomView::for_user(r, user.id, states.get(&r.id)))
            .collect(),
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
    room_response(&state, &user, &found.room, StatusCode::OK).await
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
    let room = enter(&state, &user, &name).await?;
    room_response(&state, &user, &room, StatusCode::OK).await
}
