//! The [`AuthUser`] of an authenticated REST route, taken from
//! `Authorization: Bearer <access token>`. Anything else, or a token of a
//! login that was ended (`logins`), is 401.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::AuthUser;
use super::jwt::{JwtKeys, bearer_token, now_secs};
use crate::error::ApiError;
use crate::logins::Logins;

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let keys = req
        .app_data::<web::Data<JwtKeys>>()
        .ok_or(ApiError::Unavailable)?;
    let token = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .ok_or(ApiError::Unauthorized)?;
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
    Ok(user)
}
