//! `POST /me/password` (README, "Accounts"): the current password and a new
//! one; every session of the user is signed out (their connections end on
//! every instance) and the answer starts a new one, as a login does.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::domain::Password;
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::auth::{TokenResponse, hash_error, start_login, too_many};
use crate::http::responses::{HashingBusy, InternalError, JsonBodyRefused};
use crate::logins::EndLogins;
use crate::state::AppState;

/// The current password and the new one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password the account has now.
    current_password: String,
    /// 8–128 characters.
    #[schema(min_length = 8, max_length = 128)]
    new_password: String,
}

/// Checks `password` against the stored hash of the caller, counted with
/// the login failures of their name (`LOGIN_FAILURES_PER_USER`): a wrong
/// one is 401 `invalid_credentials`, too many are 429.
pub(super) async fn check_password(
    state: &AppState,
    user: &AuthUser,
    password: String,
) -> Result<(), ApiError> {
    let key = user.username.to_lowercase();
    state
        .login_failures_per_user
        .hit(&key, Instant::now())
        .map_err(|retry| too_many(retry, "login_user"))?;
    let stored = match state.store.password_hash(user.id).await {
        Ok(stored) => stored,
        Err(e) => {
            state.login_failures_per_user.refund(&key, Instant::now());
            return Err(e.into());
        }
    };
    match state.hashing.verify(password, stored).await {
        Ok(true) => {
            state.login_failures_per_user.refund(&key, Instant::now());
            Ok(())
        }
        Ok(false) => {
            crate::metrics::auth_failure("invalid_credentials");
            Err(ApiError::InvalidCredentials)
        }
        Err(e) => {
            state.login_failures_per_user.refund(&key, Instant::now());
            Err(hash_error(e))
        }
    }
}

/// Change the caller's password.
///
/// Every session of the caller is signed out (refresh tokens revoked,
/// access tokens refused, STOMP sessions, event streams and long polls
/// ended on every instance within 2 s), this one included; the answer is a
/// new session's token pair (and cookie), as a login's.
#[utoipa::path(
    tag = "auth",
    operation_id = "change_password",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 200, description = "Changed; a new session", body = TokenResponse,
            headers(("Set-Cookie" = String, description = "`parley_refresh=<the refresh token>; \
                Path=/api/v1/auth; Max-Age=<REFRESH_TTL_SECS>; HttpOnly; SameSite=Strict`, plus \
                `; Secure` over HTTPS"))),
        (status = 400, description = "`weak_password`: the new one is not 8–128 characters; \
            `invalid_request`: malformed JSON, an unknown field or a missing one",
            body = ErrorBody),
        (status = 401, description = "`invalid_credentials`: the current password is wrong; \
            `unauthorized`: no valid access token", body = ErrorBody),
        JsonBodyRefused,
        (status = 429, description = "`too_many_attempts`: too many wrong passwords for this \
            account (`LOGIN_FAILURES_PER_USER` per 5 min, shared with logins)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry may succeed"))),
        InternalError,
        HashingBusy,
    ),
)]
#[post("/me/password")]
pub async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    let PasswordChange {
        current_password,
        new_password,
    } = body.into_inner();
    let new_password =
        Password::parse(&new_password).map_err(|m| ApiError::bad_request("weak_password", m))?;
    check_password(&state, &user, current_password).await?;
    let hash = state
        .hashing
        .hash(new_password.expose().to_string())
        .await
        .map_err(hash_error)?;
    state.store.set_password_hash(user.id, &hash).await?;
    state.logins.end(user.id, EndLogins::All).await?;
    tracing::info!(
        user_id = user.id,
        "password changed; every session signed out"
    );
    let account = state
        .store
        .user_by_id(user.id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    start_login(&req, &state, &account, HttpResponse::Ok()).await
}
