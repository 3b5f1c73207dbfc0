//! The caller's sessions (README, "Accounts"): each signup or login is one,
//! named by the access tokens issued to it. `GET /me/sessions` lists those
//! still usable; `DELETE /me/sessions/{id}` ends one through the `logins`
//! service (its refresh tokens revoked, its access tokens refused, its
//! live connections ended on every instance).

use actix_web::{HttpResponse, delete, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::responses::{InternalError, Unauthorized};
use crate::logins::{Login, LoginId};
use crate::state::AppState;
use crate::views::format_time;

/// One session (login) of the caller.
#[derive(Serialize, ToSchema)]
#[schema(as = Session)]
struct SessionView {
    #[schema(example = 12)]
    id: i64,
    /// When it signed in (RFC 3339, UTC, milliseconds).
    #[schema(format = DateTime, example = "2026-11-24T18:00:00.000Z")]
    created_at: String,
    /// When it was last active: signed in, refreshed its tokens, made a
    /// request or held a live connection (written at most once every
    /// `SESSION_ACTIVITY_SECS`).
    #[schema(format = DateTime, example = "2026-11-24T18:14:00.000Z")]
    last_used_at: String,
    /// The `User-Agent` it signed in with (first 256 characters), if any.
    #[schema(example = "Mozilla/5.0 (X11; Linux x86_64)")]
    user_agent: Option<String>,
    /// Whether it is the session of the access token that asked.
    current: bool,
}

/// The caller's sessions, most recently used first.
#[derive(Serialize, ToSchema)]
#[schema(as = SessionList)]
struct Sessions {
    sessions: Vec<SessionView>,
}

fn view(login: Login, current: LoginId) -> SessionView {
    SessionView {
        id: login.id.0,
        created_at: format_time(&login.created_at),
        last_used_at: format_time(&login.last_used_at),
        user_agent: login.user_agent,
        current: login.id == current,
    }
}

/// The caller's sessions.
///
/// Every login (signup or login) not ended whose refresh token is still
/// valid, most recently used first (at most 200). `current` marks the one
/// of the access token that asked.
#[utoipa::path(
    tag = "auth",
    operation_id = "list_sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The sessions", body = Sessions),
        Unauthorized,
        InternalError,
    ),
)]
#[get("/me/sessions")]
pub async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let logins = state.store.live_logins(user.id, chrono::Utc::now()).await?;
    let sessions = logins.into_iter().map(|l| view(l, user.login)).collect();
    Ok(HttpResponse::Ok().json(Sessions { sessions }))
}

/// Sign a session out.
///
/// Its refresh tokens are revoked, its access tokens refused, and its live
/// STOMP sessions (ERROR `session revoked`, then close), event streams
/// (`event: error`, `{"code":"session_revoked"}`) and long polls (401) end
/// within 2 s on every instance. The caller's own session may be ended
/// too (signing out here).
#[utoipa::path(
    tag = "auth",
    operation_id = "end_session",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The session's id")),
    responses(
        (status = 204, description = "Signed out"),
        Unauthorized,
        (status = 404, description = "`not_found`: no session of the caller has this id \
            (another user's, an unknown or an already ended one)", body = ErrorBody),
        InternalError,
    ),
)]
#[delete("/me/sessions/{id}")]
pub async fn end(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    if !state.logins.end_one(user.id, LoginId(*id)).await? {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::NoContent().finish())
}
