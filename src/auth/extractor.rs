//! The [`AuthUser`] of an authenticated REST route, taken from
//! `Authorization: Bearer <token>`: an access token (a JWT, verified here,
//! its login not ended: `logins`) or a bot's API token (looked up by
//! `bots`). Anything else is 401.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::future::{Either, LocalBoxFuture};

use super::AuthUser;
use super::bot_token::is_bot_token;
use super::jwt::{JwtKeys, bearer_token, now_secs};
use crate::error::ApiError;
use crate::logins::Logins;
use crate::state::AppState;

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Either<
        Ready<Result<Self, Self::Error>>,
        LocalBoxFuture<'static, Result<Self, Self::Error>>,
    >;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = match presented_token(req) {
            Ok(token) => token,
            Err(e) => return Either::Left(ready(Err(e))),
        };
        if !is_bot_token(&token) {
            return Either::Left(ready(verify_access_token(req, &token)));
        }
        let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
            return Either::Left(ready(Err(ApiError::Unavailable)));
        };
        Either::Right(Box::pin(async move {
            match state.bots.authenticate(&token).await? {
                Some(user) => Ok(user),
                None => {
                    crate::metrics::auth_failure("rest_bot_token_invalid");
                    Err(ApiError::Unauthorized)
                }
            }
        }))
    }
}

fn presented_token(req: &HttpRequest) -> Result<String, ApiError> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .map(str::to_owned)
        .ok_or(ApiError::Unauthorized)
}

fn verify_access_token(req: &HttpRequest, token: &str) -> Result<AuthUser, ApiError> {
    let keys = req
        .app_data::<web::Data<JwtKeys>>()
        .ok_or(ApiError::Unavailable)?;
    let claims = keys.verify(token, now_secs()).map_err(|_| {
        crate::metrics::auth_failure("rest_token_invalid");
        ApiError::Unauthorized
    })?;
    let user = AuthUser::from_claims(claims).map_err(|_| ApiError::Unauthorized)?;
    let logins = req
        .app_data::<web::Data<Logins>>()
        .ok_or(ApiError::Unavailable)?;
    if logins.refuses(user.login) {
        crate::metrics::auth_failure("rest_login_ended");
        return Err(ApiError::Unauthorized);
    }
    // The session's "last active" time moves (coalesced: `logins`).
    logins.used(user.login);
    Ok(user)
}
