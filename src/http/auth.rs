//! Sign-up, login and `/me`: the token answers, which also set the refresh
//! token as a browser cookie (`auth::cookie`). Rotation and logout are
//! `http/refresh.rs`.

use std::time::Instant;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{AuthUser, cookie, jwt::now_secs, password, refresh};
use crate::domain::{Password, Username};
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::client_ip::client_key;
use crate::http::responses::{HashingBusy, InternalError, InvalidRequest, JsonBodyRefused};
use crate::http::two_factor;
use crate::state::AppState;
use crate::store::{LoginId, StoreError, User};
use crate::views::UserView;

/// A username and a password. Login accepts any strings (an impossible
/// name or password is just `invalid_credentials`); sign-up enforces the
/// constraints.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// 3–32 characters of `A-Z a-z 0-9 _ . -`; unique ignoring letter case.
    #[schema(
        min_length = 3,
        max_length = 32,
        pattern = r"^[A-Za-z0-9_.-]{3,32}$",
        example = "alice"
    )]
    username: String,
    /// 8–128 characters.
    #[schema(min_length = 8, max_length = 128, example = "correct horse battery")]
    password: String,
}

/// A login: [`Credentials`], and for an account with two-factor on, a
/// current code or an unused recovery code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "alice")]
    username: String,
    #[schema(example = "correct horse battery")]
    password: String,
    /// Needed once two-factor is on: a 6-digit code or a recovery code.
    #[schema(example = "123456")]
    totp: Option<String>,
}

/// `body` answered through `response`, setting the refresh cookie to
/// `token`.
pub(super) fn with_cookie(
    req: &HttpRequest,
    state: &AppState,
    mut response: actix_web::HttpResponseBuilder,
    token: &str,
    body: serde_json::Value,
) -> HttpResponse {
    let secure = cookie::over_https(req, &state.config.limits.trusted_proxies);
    response
        .insert_header((
            header::SET_COOKIE,
            cookie::set(token, state.config.refresh_ttl, secure),
        ))
        .json(body)
}

/// The answer to sign-up, login and refresh.
#[derive(Serialize, ToSchema)]
pub(super) struct TokenResponse<'a> {
    user: UserView<'a>,
    /// HS256 JWT for `Authorization: Bearer` (and STOMP CONNECT).
    access_token: String,
    #[schema(value_type = String, example = "Bearer")]
    token_type: &'static str,
    /// Lifetime of the access token in seconds (`JWT_TTL_SECS`).
    #[schema(example = 900)]
    expires_in: i64,
    /// Opaque, single use: each refresh returns a new one and retires this one.
    refresh_token: String,
}

/// The token response for `user` with a fresh access token of `login`.
pub(super) fn token_response(
    state: &AppState,
    user: &User,
    session: LoginId,
    refresh_token: String,
) -> serde_json::Value {
    let body = TokenResponse {
        user: state.user_views.user(user),
        access_token: state
            .jwt
            .issue(user.id, &user.username, session, now_secs()),
        token_type: "Bearer",
        expires_in: state.jwt.ttl_secs(),
        refresh_token,
    };
    serde_json::to_value(body).expect("token response serialises")
}

/// Longest `User-Agent` kept with a login (the rest is cut off).
const MAX_USER_AGENT_CHARS: usize = 256;

/// Starts a new login (with its first refresh token) and answers `status`
/// with both tokens, the refresh token also as the cookie.
pub(super) async fn start_login(
    req: &HttpRequest,
    state: &AppState,
    user: &User,
    status: actix_web::HttpResponseBuilder,
) -> Result<HttpResponse, ApiError> {
    let refresh = refresh::generate();
    let now = chrono::Utc::now();
    let agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(MAX_USER_AGENT_CHARS).collect::<String>());
    let session = state
        .store
        .start_login(
            user.id,
            agent.as_deref(),
            &refresh.hash,
            now + state.refresh_ttl,
            now,
        )
        .await?;
    let body = token_response(state, user, session, refresh.token.clone());
    Ok(with_cookie(req, state, status, &refresh.token, body))
}

/// Create an account (and sign in).
///
/// Answers like a login: an access token and the first refresh token of a
/// new login.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 201, description = "Account created, signed in", body = TokenResponse,
            headers(("Set-Cookie" = String, description = "`parley_refresh=<the refresh token>; \
                Path=/api/v1/auth; Max-Age=<REFRESH_TTL_SECS>; HttpOnly; SameSite=Strict`, plus \
                `; Secure` when the request came over HTTPS (directly or per a trusted proxy's \
                `X-Forwarded-Proto`)"))),
        (status = 400, description = "`invalid_username`: not 3–32 characters of \
            `A-Z a-z 0-9 _ . -`; `weak_password`: not 8–128 characters; \
            `invalid_request`: malformed JSON, an unknown field or a missing one",
            body = ErrorBody),
        (status = 409, description = "`username_taken`: the name exists, in any letter case \
            (answered before any password is hashed)", body = ErrorBody),
        JsonBodyRefused,
        (status = 429, description = "`too_many_attempts`: too many signups from this \
            address (`SIGNUPS_PER_IP` per hour)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry may succeed"))),
        InternalError,
        HashingBusy,
    ),
)]
#[post("/auth/signup")]
pub async fn signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, ApiError> {
    let Credentials { username, password } = body.into_inner();
    let username =
        Username::parse(&username).map_err(|m| ApiError::bad_request("invalid_username", m))?;
    let password =
        Password::parse(&password).map_err(|m| ApiError::bad_request("weak_password", m))?;
    // A taken name (a closed account's stays taken) costs one indexed
    // read, not a hash (the unique constraint still decides between
    // concurrent signups of a free name).
    if state.store.name_reserved(username.as_str()).await? {
        return Err(StoreError::UsernameTaken.into());
    }
    let ip = client_key(&req, &state.config.limits.trusted_proxies);
    state
        .signups_per_ip
        .hit(&ip, Instant::now())
        .map_err(|retry| too_many(retry, "signup_ip"))?;
    let hash = match state.hashing.hash(password.expose().to_string()).await {
        Ok(hash) => hash,
        Err(e) => {
            // Nothing was created: the attempt does not count.
            state.signups_per_ip.refund(&ip, Instant::now());
            return Err(hash_error(e));
        }
    };
    let user = state.store.create_user(&username, &hash).await?;
    tracing::info!(user_id = user.id, username = %user.username, "user signed up");
    start_login(&req, &state, &user, HttpResponse::Created()).await
}

/// Sign in: starts a new login (refresh-token family).
///
/// An unknown user and a wrong password get the same answer in about the
/// same time.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 200, description = "Signed in", body = TokenResponse,
            headers(("Set-Cookie" = String, description = "`parley_refresh=<the refresh token>; \
                Path=/api/v1/auth; Max-Age=<REFRESH_TTL_SECS>; HttpOnly; SameSite=Strict`, plus \
                `; Secure` when the request came over HTTPS (directly or per a trusted proxy's \
                `X-Forwarded-Proto`)"))),
        InvalidRequest,
        (status = 401, description = "`invalid_credentials`: unknown user, wrong password, or a \
            wrong two-factor code (counted like a wrong password); `totp_required`: the password \
            is right and the account has two-factor on: send `totp` too", body = ErrorBody),
        (status = 403, description = "`account_deactivated`: the password is right but an \
            administrator deactivated the account", body = ErrorBody),
        JsonBodyRefused,
        (status = 429, description = "`too_many_attempts`: too many failed logins for this \
            username (`LOGIN_FAILURES_PER_USER` per 5 min) or attempts from this address \
            (`LOGIN_ATTEMPTS_PER_IP` per min)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry may succeed"))),
        InternalError,
        HashingBusy,
    ),
)]
#[post("/auth/login")]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest {
        username,
        password,
        totp,
    } = body.into_inner();
    let ip = client_key(&req, &state.config.limits.trusted_proxies);
    state
        .login_per_ip
        .hit(&ip, Instant::now())
        .map_err(|retry| too_many(retry, "login_ip"))?;
    // Only a name that could exist has a failure budget: an impossible one
    // cannot be locked out, nor can it grow the limiter with junk keys.
    let user_key = Username::parse(&username)
        .ok()
        .map(|u| u.as_str().to_lowercase());
    // The failure is charged before the hash is checked, so logins that
    // arrive together cannot all be verified before any is counted; a
    // login that succeeds (or is not verified at all) gets it back.
    if let Some(key) = &user_key {
        state
            .login_failures_per_user
            .hit(key, Instant::now())
            .map_err(|retry| too_many(retry, "login_user"))?;
    }
    let refund = || {
        if let Some(key) = &user_key {
            state.login_failures_per_user.refund(key, Instant::now());
        }
    };

    // Oversized or malformed input cannot match any account; answer like a
    // wrong password without spending a hash on it.
    let plausible = user_key.is_some() && Password::parse(&password).is_ok();
    let (user, ok) = if plausible {
        let found = match state.store.user_credentials(&username).await {
            Ok(found) => found,
            Err(e) => {
                refund();
                return Err(e.into());
            }
        };
        let (user, stored_hash) = match found {
            Some((u, h)) => (Some(u), Some(h)),
            None => (None, None),
        };
        match state.hashing.verify(password, stored_hash).await {
            Ok(ok) => (user, ok),
            Err(e) => {
                refund();
                return Err(hash_error(e));
            }
        }
    } else {
        (None, false)
    };
    match (ok, user) {
        (true, Some(user)) => {
            refund();
            // Told only to whoever knows the password.
            if state.store.is_deactivated(user.id).await? {
                tracing::info!(user_id = user.id, "login refused: account deactivated");
                return Err(ApiError::AccountDeactivated);
            }
            two_factor::second_factor(&state, &user, totp.as_deref()).await?;
            tracing::info!(user_id = user.id, "login succeeded");
            start_login(&req, &state, &user, HttpResponse::Ok()).await
        }
        _ => {
            crate::metrics::auth_failure("invalid_credentials");
            tracing::info!("login failed");
            Err(ApiError::InvalidCredentials)
        }
    }
}

pub(super) fn too_many(retry: std::time::Duration, scope: &'static str) -> ApiError {
    crate::metrics::rate_limited(scope);
    tracing::warn!(scope, "auth rate limit hit");
    ApiError::TooManyAttempts {
        retry_after_secs: retry.as_secs_f64().ceil().max(1.0) as u64,
    }
}

pub(super) fn hash_error(e: password::HashError) -> ApiError {
    match e {
        password::HashError::Busy => {
            crate::metrics::rate_limited("password_hash");
            tracing::warn!("password hashing queue full");
            ApiError::Busy {
                retry_after_secs: 1,
            }
        }
        e @ password::HashError::Failed(_) => ApiError::internal(e),
    }
}

/// The caller's own `user` object: what everyone sees of it, and what only
/// its owner does.
#[derive(Serialize, ToSchema)]
#[schema(as = OwnUser)]
pub(super) struct OwnUserView<'a> {
    #[serde(flatten)]
    user: UserView<'a>,
    /// The address last given (`PUT /me/email`), verified or not.
    #[schema(example = "alice@example.com")]
    email: Option<String>,
    /// Whether its mailed code was confirmed.
    email_verified: bool,
    /// Whether logins need a two-factor code.
    totp_enabled: bool,
}

/// `user` as its owner sees it.
pub(super) async fn own_user(state: &AppState, user: &User) -> Result<HttpResponse, ApiError> {
    own_user_as(state, user, actix_web::http::StatusCode::OK).await
}

/// `user` as its owner sees it, answered with `status`.
pub(super) async fn own_user_as(
    state: &AppState,
    user: &User,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, ApiError> {
    let info = state.store.account_info(user.id).await?;
    Ok(HttpResponse::build(status).json(OwnUserView {
        user: state.user_views.user(user),
        email: info.email,
        email_verified: info.email_verified,
        totp_enabled: info.totp_enabled,
    }))
}

/// The caller.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The authenticated user, with what only they see \
            (`email`, `email_verified`, `totp_enabled`)", body = OwnUserView),
        (status = 401, description = "`unauthorized`: missing, malformed, expired or forged \
            access token, or its user no longer exists", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        InternalError,
    ),
)]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let user = state
        .store
        .user_by_id(user.id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    own_user(&state, &user).await
}
