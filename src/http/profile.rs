//! Profiles and closing one's account (README, "Accounts"): `PATCH /me`,
//! `GET /users/{username}`, `DELETE /me`. The rules are the `domain`
//! newtypes' and the `accounts` service's; this file only maps them to
//! HTTP. Avatars are `http/avatar.rs`, the export `http/export.rs`.

use std::time::Instant;

use actix_web::{HttpResponse, delete, get, patch, web};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::auth::{hash_error, too_many};
use super::responses::{HashingBusy, InternalError, JsonBodyRefused, Unauthorized};
use crate::accounts;
use crate::auth::AuthUser;
use crate::domain::{DisplayName, Password, Status};
use crate::error::{ApiError, Body as ErrorBody};
use crate::state::AppState;
use crate::store::ProfileChange;
use crate::views::UserView;

/// A profile change: an absent field is unchanged, `null` clears it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    /// 1–64 characters without control characters; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64, example = "Alice Liddell")]
    display_name: Option<Option<String>>,
    /// Up to 140 characters without control characters; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 140, example = "in the garden")]
    status: Option<Option<String>>,
}

/// A field that is present: `Some(None)` for `null`, `Some(Some(v))` for a
/// value (an absent field stays `None` through `#[serde(default)]`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl ProfilePatch {
    fn validate(self) -> Result<ProfileChange, ApiError> {
        let invalid = |m: &str| ApiError::bad_request("invalid_profile", m);
        let display_name = match self.display_name {
            Some(Some(name)) => Some(Some(DisplayName::parse(&name).map_err(invalid)?)),
            Some(None) => Some(None),
            None => None,
        };
        let status = match self.status {
            Some(Some(status)) => Some(Some(Status::parse(&status).map_err(invalid)?)),
            Some(None) => Some(None),
            None => None,
        };
        Ok(ProfileChange {
            display_name,
            status,
        })
    }
}

/// Change the caller's profile.
///
/// Users who share a room with the caller (and the caller's other
/// connections) get the new `user` object live: `user_updated` on
/// `/user/queue/updates` and `GET /me/events`.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller, as now", body = UserView),
        (status = 400, description = "`invalid_profile`: a display name not 1–64 characters, \
            a status over 140, or a control character in either; `invalid_request`: malformed \
            JSON or an unknown field", body = ErrorBody),
        Unauthorized,
        JsonBodyRefused,
        InternalError,
    ),
)]
#[patch("/me")]
pub async fn update_me(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ProfilePatch>,
) -> Result<HttpResponse, ApiError> {
    let change = body.into_inner().validate()?;
    let user = accounts::update_profile(&state, user.id, &change)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(HttpResponse::Ok().json(state.user_views.user(&user)))
}

/// A user, by username (any letter case).
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "Username, any letter case")),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 404, description = "`user_not_found`: no such user (or the account was \
            deleted)", body = ErrorBody),
        Unauthorized,
        InternalError,
    ),
)]
#[get("/users/{username}")]
pub async fn get_user(
    state: web::Data<AppState>,
    _caller: AuthUser,
    username: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = state
        .store
        .user_by_name(&username)
        .await?
        .ok_or(ApiError::UserNotFound)?;
    Ok(HttpResponse::Ok().json(state.user_views.user(&user)))
}

/// The caller's password, confirming a deletion.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmDeletion {
    #[schema(example = "correct horse battery")]
    password: String,
}

/// Delete the caller's account.
///
/// Every login and live connection of the caller ends; the text and files
/// of every message they sent are erased (the events stay, as deleted
/// ones, and subscribers see the deletions live); they leave every room (a
/// room they own passes to its oldest moderator, else its oldest member,
/// else is deleted); the username stays reserved. Answered once all of it
/// is done.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The account is deleted"),
        (status = 400, description = "`invalid_request`: malformed JSON, an unknown field or \
            a missing one", body = ErrorBody),
        (status = 401, description = "`invalid_credentials`: wrong password; `unauthorized`: \
            missing, malformed, expired or forged access token",
            body = ErrorBody),
        JsonBodyRefused,
        (status = 429, description = "`too_many_attempts`: too many wrong passwords for this \
            user (`LOGIN_FAILURES_PER_USER` per 5 min, shared with login)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry may succeed"))),
        InternalError,
        HashingBusy,
    ),
)]
#[delete("/me")]
pub async fn delete_me(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ConfirmDeletion>,
) -> Result<HttpResponse, ApiError> {
    let key = user.username.to_lowercase();
    // Charged before the hash is checked, like a login (http/auth.rs).
    state
        .login_failures_per_user
        .hit(&key, Instant::now())
        .map_err(|retry| too_many(retry, "login_user"))?;
    let refund = || state.login_failures_per_user.refund(&key, Instant::now());
    let found = match Password::parse(&body.password) {
        Ok(_) => state.store.user_credentials(&user.username).await,
        Err(_) => Ok(None),
    };
    let stored = match found {
        Ok(found) => found.filter(|(u, _)| u.id == user.id).map(|(_, hash)| hash),
        Err(e) => {
            refund();
            return Err(e.into());
        }
    };
    let ok = match state
        .hashing
        .verify(body.into_inner().password, stored)
        .await
    {
        Ok(ok) => ok,
        Err(e) => {
            refund();
            return Err(hash_error(e));
        }
    };
    if !ok {
        crate::metrics::auth_failure("invalid_credentials");
        return Err(ApiError::InvalidCredentials);
    }
    refund();
    accounts::delete_account(&state, user.id)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::NoContent().finish())
}
