//! A room's members and their roles, leaving, removal, bans and deleting
//! the room (README, "Members, moderation and blocking"). Each change is
//! decided by the store under the room's lock (`store::moderation`) and
//! cuts whoever loses access off at once, on every instance
//! ([`crate::membership`]).

use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rooms::find_visible;
use crate::access::VisibleRoom;
use crate::auth::AuthUser;
use crate::domain::Role;
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::responses::{
    InternalError, InvalidRequest, JsonBodyRefused, ModerationForbidden, RoomNotFound, Unauthorized,
};
use crate::membership::MembershipError;
use crate::state::AppState;
use crate::store::User;
use crate::store::moderation::MembershipRequest;
use crate::views::{MemberView, UserView};

/// A user named in a request body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedUser {
    /// Any letter case.
    #[schema(example = "bob")]
    username: String,
}

impl NamedUser {
    pub fn username(&self) -> &str {
        &self.username
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    /// `moderator` or `member` (a room has one owner, its creator).
    #[schema(schema_with = crate::views::words::assignable_role)]
    role: String,
}

/// The members of a room.
#[derive(Serialize, ToSchema)]
#[schema(as = MemberList)]
struct Members<'a> {
    members: Vec<MemberView<'a>>,
}

/// The users banned from a room.
#[derive(Serialize, ToSchema)]
#[schema(as = BanList)]
struct Bans<'a> {
    bans: Vec<UserView<'a>>,
}

fn membership_error(e: MembershipError) -> ApiError {
    match e {
        MembershipError::Refused(refusal) => refusal.into(),
        MembershipError::RoomNotFound => ApiError::RoomNotFound,
        MembershipError::Store(e) => e.into(),
    }
}

/// The user named `name`, else 404 `user_not_found`.
async fn user_named(state: &AppState, name: &str) -> Result<User, ApiError> {
    state
        .store
        .user_by_name(name)
        .await?
        .ok_or(ApiError::UserNotFound)
}

async fn act(
    state: &AppState,
    found: &VisibleRoom,
    actor: &AuthUser,
    target: (i64, &str),
    action: MembershipRequest,
) -> Result<(), ApiError> {
    state
        .membership
        .act(&found.room, (actor.id, &actor.username), target, action)
        .await
        .map(drop)
        .map_err(membership_error)
}

async fn members_response(state: &AppState, room_id: i64) -> Result<HttpResponse, ApiError> {
    let members = state.store.members(room_id).await?;
    Ok(HttpResponse::Ok().json(Members {
        members: members.iter().map(|m| state.user_views.member(m)).collect(),
    }))
}

async fn bans_response(state: &AppState, room_id: i64) -> Result<HttpResponse, ApiError> {
    let bans = state.store.bans(room_id).await?;
    Ok(HttpResponse::Ok().json(Bans {
        bans: bans.iter().map(|u| state.user_views.user(u)).collect(),
    }))
}

/// The members of a room, with their roles and read markers.
#[utoipa::path(
    tag = "members",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    responses(
        (status = 200, description = "The members, by username", body = Members),
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

/// Add a member (the owner or a moderator); idempotent.
#[utoipa::path(
    tag = "members",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    request_body = NamedUser,
    responses(
        (status = 200, description = "The members, the added user included", body = Members),
        InvalidRequest,
        Unauthorized,
        ModerationForbidden,
        (status = 404, description = "`room_not_found`: no such room, or one the caller may \
            not see; `user_not_found`: no user of that name", body = ErrorBody),
        (status = 409, description = "`user_banned`: the user is banned from the room",
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
    body: web::Json<NamedUser>,
) -> Result<HttpResponse, ApiError> {
    let found = find_visible(&state, &name, &user).await?;
    if !found.role.is_some_and(Role::moderates) || found.room.direct.is_some() {
        return Err(ApiError::Forbidden);
    }
    let target = user_named(&state, body.username()).await?;
    act(
        &state,
        &found,
        &user,
        (target.id, &target.username),
        MembershipRequest::Add,
    )
    .await?;
    members_response(&state, found.room.id).await
}

/// Leave a room; idempotent. Every subscription, event stream and long
/// poll of the caller's in the room ends (`access_revoked`, reason `left`).
#[utoipa::path(
    tag = "members",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    responses(
        (status = 204, description = "The caller is not a member (any more)"),
        Unauthorized,
        (status = 403, description = "`forbidden`: a direct conversation cannot be left",
            body = ErrorBody),
        RoomNotFound,
        (status = 409, description = "`owner_cannot_leave`: the owner cannot leave (delete \
            the room instead)", body = ErrorBody),
        InternalError,
    ),
)]
#[post("/rooms/{name}/leave")]
pub async fn leave(
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let found = find_visible(&state, &name, &user).await?;
    act(
        &state,
        &found,
        &user,
        (user.id, &user.username),
        MembershipRequest::Leave,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Remove a member: the owner removes moderators and members, a moderator
/// members only. In a public room they may join again (ban to keep them
/// out). Their subscriptions, streams and long polls of the room end
/// (`access_revoked`, reason `removed`).
#[utoipa::path(
    tag = "members",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        ("username" = String, Path, description = "The member to remove"),
    ),
    responses(
        (status = 204, description = "Removed"),
        Unauthorized,
        ModerationForbidden,
        (status = 404, description = "`room_not_found`: no such room, or one the caller may \
            not see; `user_not_found`: no such user, or not a member", body = ErrorBody),
        InternalError,
    ),
)]
#[delete("/rooms/{name}/members/{username}")]
pub async fn remove_member(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, username) = path.into_inner();
    let found = find_visible(&state, &name, &user).await?;
    if !found.role.is_some_and(Role::moderates) || found.room.direct.is_some() {
        return Err(ApiError::Forbidden);
    }
    let target = user_named(&state, &username).await?;
    act(
        &state,
        &found,
        &user,
        (target.id, &target.username),
        MembershipRequest::Remove,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Make a member a moderator, or a moderator a member (the owner only).
#[utoipa::path(
    tag = "members",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        ("username" = String, Path, description = "The member"),
    ),
    request_body = SetRole,
    responses(
        (status = 200, description = "The member with their new role", body = MemberView),
        (status = 400, description = "`invalid_role`: not `moderator` or `member` (`owner` \
            included); \
            `invalid_request`: malformed JSON, an unknown field or a missing one",
            body = ErrorBody),
        Unauthorized,
        (status = 403, description = "`forbidden`: the caller is not the owner, the member is \
            the owner, or the room is a direct conversation", body = ErrorBody),
        (status = 404, description = "`room_not_found`: no such room, or one the caller may \
            not see; `user_not_found`: no such user, or not a member", body = ErrorBody),
        JsonBodyRefused,
        InternalError,
    ),
)]
#[put("/rooms/{name}/members/{username}/role")]
pub async fn set_role(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
    body: web::Json<SetRole>,
) -> Result<HttpResponse, ApiError> {
    let (name, username) = path.into_inner();
    let role = Role::parse(&body.role)
        .filter(|r| *r != Role::Owner)
        .ok_or_else(|| ApiError::bad_request("invalid_role", "role must be moderator or member"))?;
    let found = find_visible(&state, &name, &user).await?;
    if found.role != Some(Role::Owner) {
        return Err(ApiError::Forbidden);
    }
    let target = user_named(&state, &username).await?;
    act(
        &state,
        &found,
        &user,
        (target.id, &target.username),
        MembershipRequest::SetRole(role),
    )
    .await?;
    let member = state.store.member(found.room.id, target.id).await?;
    let member = member.ok_or(ApiError::UserNotFound)?;
    Ok(HttpResponse::Ok().json(state.user_views.member(&member)))
}

/// The users banned from a room (the owner and moderators).
#[utoipa::path(
    tag = "members",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    responses(
        (status = 200, description = "The banned users, by username", body = Bans),
        Unauthorized,
        (status = 403, description = "`forbidden`: the caller is not the owner or a moderator",
            body = ErrorBody),
        RoomNotFound,
        InternalError,
    ),
)]
#[get("/rooms/{name}/bans")]
pub async fn list_bans(
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let found = find_visible(&state, &name, &user).await?;
    if !found.role.is_some_and(Role::moderates) {
        return Err(ApiError::Forbidden);
    }
    bans_response(&state, found.room.id).await
}

/// Ban a user (a member or not): rules as for removal. A banned user sees
/// the room as one that does not exist until unbanned; their
/// subscriptions, streams and long polls of it end (`access_revoked`,
/// reason `banned`). Idempotent.
#[utoipa::path(
    tag = "members",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    request_body = NamedUser,
    responses(
        (status = 200, description = "The banned users, the new one included", body = Bans),
        InvalidRequest,
        Unauthorized,
        ModerationForbidden,
        (status = 404, description = "`room_not_found`: no such room, or one the caller may \
            not see; `user_not_found`: no user of that name", body = ErrorBody),
        JsonBodyRefused,
        InternalError,
    ),
)]
#[post("/rooms/{name}/bans")]
pub async fn ban(
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
    body: web::Json<NamedUser>,
) -> Result<HttpResponse, ApiError> {
    let found = find_visible(&state, &name, &user).await?;
    if !found.role.is_some_and(Role::moderates) || found.room.direct.is_some() {
        return Err(ApiError::Forbidden);
    }
    let target = user_named(&state, body.username()).await?;
    act(
        &state,
        &found,
        &user,
        (target.id, &target.username),
        MembershipRequest::Ban,
    )
    .await?;
    bans_response(&state, found.room.id).await
}

/// Lift a ban (the owner or a moderator). It does not make the user a
/// member again.
#[utoipa::path(
    tag = "members",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Room name"),
        ("username" = String, Path, description = "The banned user"),
    ),
    responses(
        (status = 204, description = "No longer banned"),
        Unauthorized,
        (status = 403, description = "`forbidden`: the caller is not the owner or a moderator",
            body = ErrorBody),
        (status = 404, description = "`room_not_found`: no such room, or one the caller may \
            not see; `user_not_found`: no such user, or not banned", body = ErrorBody),
        InternalError,
    ),
)]
#[delete("/rooms/{name}/bans/{username}")]
pub async fn unban(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, username) = path.into_inner();
    let found = find_visible(&state, &name, &user).await?;
    if !found.role.is_some_and(Role::moderates) || found.room.direct.is_some() {
        return Err(ApiError::Forbidden);
    }
    let target = user_named(&state, &username).await?;
    act(
        &state,
        &found,
        &user,
        (target.id, &target.username),
        MembershipRequest::Unban,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Delete a room (the owner only): its log, memberships and bans are gone,
/// and the name is free again. Every subscription, stream and long poll of
/// it ends (`access_revoked`, reason `room_deleted`).
#[utoipa::path(
    tag = "rooms",
    operation_id = "delete_room",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    responses(
        (status = 204, description = "Deleted"),
        Unauthorized,
        (status = 403, description = "`forbidden`: the caller is not the owner, or the room is \
            a direct conversation", body = ErrorBody),
        RoomNotFound,
        InternalError,
    ),
)]
#[delete("/rooms/{name}")]
pub async fn delete_room(
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let found = find_visible(&state, &name, &user).await?;
    act(
        &state,
        &found,
        &user,
        (user.id, &user.username),
        MembershipRequest::Delete,
    )
    .await?;
    tracing::info!(room = %found.room.name, "room deleted");
    Ok(HttpResponse::NoContent().finish())
}
