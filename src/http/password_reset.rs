//! Password reset by mail (README, "Accounts"): `POST /auth/password-reset`
//! answers 202 whatever the address and, off the request path, mails a
//! verified address a link with a single-use token (30 minutes; at most
//! [`RESETS_PER_HOUR`] an hour per account); `POST
//! /auth/password-reset/confirm` sets the new password and ends every login
//! of the account on every instance. Requests per client address are
//! limited (`PASSWORD_RESETS_PER_IP`). Without `SMTP_URL` both answer 503
//! `mail_unavailable`.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::mail_secrets;
use crate::domain::Password;
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::auth::{hash_error, too_many};
use crate::http::client_ip::client_key;
use crate::http::email::{MAIL_SECRET_TTL, mailer, parse_email};
use crate::http::responses::{InternalError, JsonBodyRefused};
use crate::logins::EndLogins;
use crate::mail::Mail;
use crate::state::AppState;
use crate::store::{MailKind, NewMailToken};

/// Reset mails one account may get per hour.
pub const RESETS_PER_HOUR: i64 = 3;

/// The address of the account to reset.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    #[schema(example = "alice@example.com", max_length = 254)]
    email: String,
}

/// The token from the mailed link and the new password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirm {
    token: String,
    /// 8–128 characters.
    #[schema(min_length = 8, max_length = 128)]
    new_password: String,
}

/// Ask for a password-reset mail.
///
/// Answered 202 whatever the address, so that nobody learns which
/// addresses have accounts; only a verified address gets the mail, with a
/// link to `PUBLIC_URL/#reset=TOKEN` (good once, for 30 minutes).
#[utoipa::path(
    tag = "auth",
    operation_id = "request_password_reset",
    request_body = ResetRequest,
    responses(
        (status = 202, description = "Accepted; a mail goes out if the address is a verified \
            one (at most 3 an hour per account)"),
        (status = 400, description = "`invalid_email`: not an email address; \
            `invalid_request`: malformed JSON, an unknown field or a missing one",
            body = ErrorBody),
        JsonBodyRefused,
        (status = 429, description = "`too_many_attempts`: too many requests from this address \
            (`PASSWORD_RESETS_PER_IP` per hour)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry may succeed"))),
        InternalError,
        (status = 503, description = "`mail_unavailable`: the server sends no mail (no \
            `SMTP_URL`); `busy`: too many mails are waiting to be sent", body = ErrorBody),
    ),
)]
#[post("/auth/password-reset")]
pub async fn request_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<ResetRequest>,
) -> Result<HttpResponse, ApiError> {
    let mailer = mailer(&state)?;
    let email = parse_email(&body.email)?;
    let ip = client_key(&req, &state.config.limits.trusted_proxies);
    state
        .password_resets_per_ip
        .hit(&ip, Instant::now())
        .map_err(|retry| too_many(retry, "password_reset_ip"))?;
    let job_state = state.clone();
    mailer
        .run_off_request(async move {
            if let Err(e) = mail_reset(&job_state, &email).await {
                tracing::warn!(error = %e, "password reset not mailed");
            }
        })
        .map_err(|_| ApiError::Busy {
            retry_after_secs: 5,
        })?;
    Ok(HttpResponse::Accepted().finish())
}

/// Mails a reset link to the account whose verified address is `email`, if
/// any and if it was not mailed [`RESETS_PER_HOUR`] within the hour.
async fn mail_reset(state: &AppState, email: &str) -> Result<(), ApiError> {
    let Some(mailer) = state.mailer.as_ref() else {
        return Ok(());
    };
    let Some((user_id, address)) = state.store.user_by_verified_email(email).await? else {
        return Ok(());
    };
    let (token, hash) = mail_secrets::new_reset_token();
    let now = chrono::Utc::now();
    let kept = state
        .store
        .issue_mail_token(NewMailToken {
            user_id,
            kind: MailKind::Reset,
            email: &address,
            hash: &hash,
            now,
            expires_at: now + MAIL_SECRET_TTL,
            per_hour: RESETS_PER_HOUR,
        })
        .await?;
    if !kept {
        tracing::info!(user_id, "password reset not mailed: hourly cap reached");
        return Ok(());
    }
    let link = format!("{}/#reset={token}", mailer.public_url());
    mailer
        .queue(Mail {
            to: address,
            subject: "Reset your Parley password".into(),
            body: format!(
                "Someone (we hope you) asked to reset your Parley password.\n\n\
                 Choose a new one here, within 30 minutes:\n\n{link}\n\n\
                 If you did not ask for it, ignore this mail: your password stays as it is.\n"
            ),
        })
        .map_err(|_| ApiError::Busy {
            retry_after_secs: 5,
        })?;
    tracing::info!(user_id, "password reset mail queued");
    Ok(())
}

/// Set a new password with a mailed reset token.
///
/// The token is good once; every login (session) of the account ends on
/// every instance. Sign in with the new password afterwards.
#[utoipa::path(
    tag = "auth",
    operation_id = "confirm_password_reset",
    request_body = ResetConfirm,
    responses(
        (status = 204, description = "The password is changed; every session is signed out"),
        (status = 400, description = "`invalid_token`: the token is used, expired or unknown; \
            `weak_password`: the new one is not 8–128 characters; `invalid_request`: malformed \
            JSON, an unknown field or a missing one", body = ErrorBody),
        JsonBodyRefused,
        InternalError,
        (status = 503, description = "`mail_unavailable`: the server sends no mail (no \
            `SMTP_URL`); `busy`: too many password hashes are waiting", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry may succeed"))),
    ),
)]
#[post("/auth/password-reset/confirm")]
pub async fn confirm_reset(
    state: web::Data<AppState>,
    body: web::Json<ResetConfirm>,
) -> Result<HttpResponse, ApiError> {
    mailer(&state)?;
    let ResetConfirm {
        token,
        new_password,
    } = body.into_inner();
    let new_password =
        Password::parse(&new_password).map_err(|m| ApiError::bad_request("weak_password", m))?;
    let hash = mail_secrets::reset_token_hash(&token);
    let invalid = || {
        crate::metrics::auth_failure("invalid_reset_token");
        ApiError::bad_request(
            "invalid_token",
            "this reset link was used, expired or is not known",
        )
    };
    // A cheap check first: an unknown token costs no password hash.
    if !state
        .store
        .reset_token_live(&hash, chrono::Utc::now())
        .await?
    {
        return Err(invalid());
    }
    let password_hash = state
        .hashing
        .hash(new_password.expose().to_string())
        .await
        .map_err(hash_error)?;
    let Some(user_id) = state
        .store
        .reset_password(&hash, &password_hash, chrono::Utc::now())
        .await?
    else {
        return Err(invalid());
    };
    state.logins.end(user_id, EndLogins::All).await?;
    tracing::info!(user_id, "password reset; every session signed out");
    Ok(HttpResponse::NoContent().finish())
}
