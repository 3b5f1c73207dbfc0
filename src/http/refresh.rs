//! Refresh-token rotation and logout: the token comes from the body or,
//! with `{}`, from the `parley_refresh` cookie (README, "Staying signed
//! in, and a live view of one's own rooms").

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{cookie, refresh};
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::auth::{TokenResponse, token_response, with_cookie};
use crate::http::responses::{InternalError, InvalidRequest, JsonBodyRefused};
use crate::state::AppState;
use crate::store::{EndLogins, Rotation};

/// The refresh token to rotate or revoke; `{}` uses the `parley_refresh`
/// cookie instead (a token given here wins over the cookie).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// A refresh token from a token response; omit it to use the cookie.
    refresh_token: Option<String>,
}

/// Where a refresh or logout found its token.
enum Presented {
    Body(String),
    Cookie(String),
}

impl Presented {
    /// The body's token, else the cookie's. A cookie comes from a browser
    /// by itself, so it is refused from an `Origin` not in
    /// `ALLOWED_ORIGINS` (a page elsewhere cannot spend it); no token at
    /// all is an invalid one.
    fn of(req: &HttpRequest, state: &AppState, body: RefreshRequest) -> Result<Self, ApiError> {
        if let Some(token) = body.refresh_token {
            return Ok(Presented::Body(token));
        }
        let token = cookie::read(req).ok_or(ApiError::InvalidRefreshToken)?;
        let origin = req.headers().get(header::ORIGIN);
        let allowed = origin.is_none_or(|o| {
            o.to_str()
                .is_ok_and(|o| state.config.allowed_origins.allows(o))
        });
        if !allowed {
            tracing::info!(origin = ?origin, "refresh cookie refused: origin not allowed");
            return Err(ApiError::ForbiddenOrigin);
        }
        Ok(Presented::Cookie(token))
    }

    fn token(&self) -> &str {
        match self {
            Presented::Body(t) | Presented::Cookie(t) => t,
        }
    }
}

/// `response` with the refresh cookie cleared.
fn clearing_cookie(
    req: &HttpRequest,
    state: &AppState,
    mut response: HttpResponse,
) -> HttpResponse {
    let secure = cookie::over_https(req, &state.config.limits.trusted_proxies);
    response
        .headers_mut()
        .append(header::SET_COOKIE, cookie::clear(secure));
    response
}

/// Rotate a refresh token: a new access token and a new refresh token.
///
/// The token is the body's `refresh_token`, else (body `{}`) the
/// `parley_refresh` cookie; the answer sets the cookie to the new token.
/// The presented token stops working. Presenting an already-rotated token
/// revokes every token of its login.
#[utoipa::path(
    tag = "auth",
    operation_id = "refresh",
    responses(
        (status = 200, description = "Rotated", body = TokenResponse,
            headers(("Set-Cookie" = String, description = "`parley_refresh=<the refresh token>; \
                Path=/api/v1/auth; Max-Age=<REFRESH_TTL_SECS>; HttpOnly; SameSite=Strict`, plus \
                `; Secure` when the request came over HTTPS (directly or per a trusted proxy's \
                `X-Forwarded-Proto`)"))),
        InvalidRequest,
        (status = 401, description = "`invalid_refresh_token`: unknown, expired, revoked or \
            already rotated (which revokes its whole login), or none given (no body token, \
            no cookie); a cookie that failed is cleared", body = ErrorBody,
            headers(("Set-Cookie" = String, description = "`parley_refresh=; Path=/api/v1/auth; \
                Max-Age=0; HttpOnly; SameSite=Strict` (and `; Secure` over HTTPS): the browser \
                forgets the cookie"))),
        (status = 403, description = "`forbidden_origin`: the token came from the cookie and \
            the request's `Origin` is not in `ALLOWED_ORIGINS`", body = ErrorBody),
        JsonBodyRefused,
        InternalError,
    ),
)]
#[post("/auth/refresh")]
pub async fn rotate_refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let presented = Presented::of(&req, &state, body.into_inner())?;
    let old = refresh::hash(presented.token());
    let new = refresh::generate();
    let expires = chrono::Utc::now() + state.refresh_ttl;
    let error = match state
        .store
        .rotate_refresh_token(&old, &new.hash, expires, chrono::Utc::now())
        .await?
    {
        Rotation::Rotated(user, Some(login)) => {
            // The store saved the new token in the old one's family.
            let body = token_response(&state, &user, login, new.token.clone());
            return Ok(with_cookie(
                &req,
                &state,
                HttpResponse::Ok(),
                &new.token,
                body,
            ));
        }
        Rotation::Reused => {
            tracing::warn!("refresh token reuse detected; family revoked");
            ApiError::InvalidRefreshToken
        }
        // A family without a login (never written by the server itself).
        Rotation::Rotated(_, None) | Rotation::Invalid => ApiError::InvalidRefreshToken,
    };
    Ok(match presented {
        // The browser should stop presenting a dead cookie.
        Presented::Cookie(_) => clearing_cookie(&req, &state, error.error_response()),
        Presented::Body(_) => error.error_response(),
    })
}

/// Log out: revokes the refresh token and every token of its login.
///
/// The token is the body's `refresh_token`, else (body `{}`) the
/// `parley_refresh` cookie; the answer clears the cookie. An
/// already-rotated token is refused but revokes its whole login, as on
/// refresh: whoever presents it is not (only) the legitimate client.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 204, description = "Revoked; the cookie is cleared",
            headers(("Set-Cookie" = String, description = "`parley_refresh=; Path=/api/v1/auth; \
                Max-Age=0; HttpOnly; SameSite=Strict` (and `; Secure` over HTTPS): the browser \
                forgets the cookie"))),
        InvalidRequest,
        (status = 401, description = "`invalid_refresh_token`: unknown, expired, revoked or \
            already rotated (which revokes its whole login, as on refresh), or none given; \
            a cookie that failed is cleared", body = ErrorBody,
            headers(("Set-Cookie" = String, description = "`parley_refresh=; Path=/api/v1/auth; \
                Max-Age=0; HttpOnly; SameSite=Strict` (and `; Secure` over HTTPS): the browser \
                forgets the cookie"))),
        (status = 403, description = "`forbidden_origin`: the token came from the cookie and \
            the request's `Origin` is not in `ALLOWED_ORIGINS`", body = ErrorBody),
        JsonBodyRefused,
        InternalError,
    ),
)]
#[post("/auth/logout")]
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let presented = Presented::of(&req, &state, body.into_inner())?;
    let hash = refresh::hash(presented.token());
    let login = state.store.login_of_refresh_token(&hash).await?;
    let revoked = state
        .store
        .revoke_refresh_family(&hash, chrono::Utc::now())
        .await?;
    if revoked && let Some((user_id, login)) = login {
        // The login ends with it: its access tokens too, on every instance.
        state.logins.end(user_id, EndLogins::One(login)).await?;
    }
    Ok(match (revoked, presented) {
        (true, _) => clearing_cookie(&req, &state, HttpResponse::NoContent().finish()),
        (false, Presented::Cookie(_)) => {
            clearing_cookie(&req, &state, ApiError::InvalidRefreshToken.error_response())
        }
        (false, Presented::Body(_)) => ApiError::InvalidRefreshToken.error_response(),
    })
}
