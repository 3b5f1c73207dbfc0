//! Rooms: create, list, look up, join, members.

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use crate::access::{VisibleRoom, visible_room};
use crate::auth::AuthUser;
use crate::domain::RoomName;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::views::{RoomView, UserView};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    name: String,
    #[serde(default)]
    private: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    username: String,
}

#[derive(Serialize)]
struct Rooms<'a> {
    rooms: Vec<RoomView<'a>>,
}

#[derive(Serialize)]
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
        .create_room(name.as_str(), body.private, user.id)
        .await?;
    tracing::info!(room = %room.name, private = room.private, "room created");
    Ok(HttpResponse::Created().json(RoomView::from(&room)))
}

#[get("/rooms")]
pub async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let rooms = state.store.rooms_visible_to(user.id).await?;
    Ok(HttpResponse::Ok().json(Rooms {
        rooms: rooms.iter().map(RoomView::from).collect(),
    }))
}

#[get("/rooms/{name}")]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let found = find_visible(&state, &name, &user).await?;
    Ok(HttpResponse::Ok().json(RoomView::from(&found.room)))
}

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

#[get("/rooms/{name}/members")]
pub async fn list_members(
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let found = find_visible(&state, &name, &user).await?;
    members_response(&state, found.room.id).await
}

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
