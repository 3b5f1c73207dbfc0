//! The account's email address (README, "Accounts"): `PUT /me/email` sets
//! it (unverified) and mails a 6-digit code, `POST /me/email/verify` checks
//! the code. A code lives 30 minutes, is good once, and is void after
//! [`MAX_CODE_TRIES`] wrong tries; an account is mailed at most
//! [`CODES_PER_HOUR`] codes an hour. Without `SMTP_URL` both answer 503
//! `mail_unavailable`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, post, put, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::auth::mail_secrets;
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::auth::{OwnUserView, own_user_as};
use crate::http::responses::{InternalError, JsonBodyRefused, Unauthorized};
use crate::mail::{Mail, Mailer};
use crate::state::AppState;
use crate::store::{CodeCheck, MailKind, NewMailToken};

/// How long a mailed code or reset token is good for.
pub(super) const MAIL_SECRET_TTL: chrono::Duration = chrono::Duration::minutes(30);
/// Wrong tries before a code is void.
pub const MAX_CODE_TRIES: u8 = 5;
/// Email codes mailed to one account per hour.
pub const CODES_PER_HOUR: i64 = 3;

/// The mailer, or 503 `mail_unavailable` without `SMTP_URL`.
pub(super) fn mailer(state: &AppState) -> Result<&Mailer, ApiError> {
    state.mailer.as_ref().ok_or(ApiError::MailUnavailable)
}

/// An address to verify.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChange {
    /// An email address, at most 254 characters.
    #[schema(example = "alice@example.com", max_length = 254)]
    email: String,
}

/// The code from the mail.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailCode {
    #[schema(example = "123456")]
    code: String,
}

/// `raw` as an address a mail can go to, or 400 `invalid_email`.
pub(super) fn parse_email(raw: &str) -> Result<String, ApiError> {
    let raw = raw.trim();
    let valid = raw.len() <= 254
        && !raw.chars().any(char::is_control)
        && raw.parse::<lettre::Address>().is_ok();
    if valid {
        Ok(raw.to_string())
    } else {
        Err(ApiError::bad_request(
            "invalid_email",
            "that is not an email address",
        ))
    }
}

/// Set the caller's email address and mail it a code.
///
/// The address is kept unverified (replacing the previous one, verified or
/// not) until its 6-digit code is given to `POST /me/email/verify`, within
/// 30 minutes. A new code voids the previous one.
#[utoipa::path(
    tag = "auth",
    operation_id = "set_email",
    security(("bearer" = [])),
    request_body = EmailChange,
    responses(
        (status = 202, description = "Kept; a code is being mailed", body = OwnUserView),
        (status = 400, description = "`invalid_email`: not an email address; \
            `invalid_request`: malformed JSON, an unknown field or a missing one",
            body = ErrorBody),
        Unauthorized,
        JsonBodyRefused,
        (status = 429, description = "`too_many_attempts`: 3 codes were mailed to this \
            account within the hour", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry may succeed"))),
        InternalError,
        (status = 503, description = "`mail_unavailable`: the server sends no mail (no \
            `SMTP_URL`); `busy`: too many mails are waiting to be sent", body = ErrorBody),
    ),
)]
#[put("/me/email")]
pub async fn set_email(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<EmailChange>,
) -> Result<HttpResponse, ApiError> {
    let mailer = mailer(&state)?;
    let email = parse_email(&body.email)?;
    let (code, hash) = mail_secrets::new_email_code(user.id);
    let now = chrono::Utc::now();
    let kept = state
        .store
        .issue_mail_token(NewMailToken {
            user_id: user.id,
            kind: MailKind::Email,
            email: &email,
            hash: &hash,
            now,
            expires_at: now + MAIL_SECRET_TTL,
            per_hour: CODES_PER_HOUR,
        })
        .await?;
    if !kept {
        return Err(super::auth::too_many(
            std::time::Duration::from_secs(3600),
            "email_codes",
        ));
    }
    mailer
        .queue(Mail {
            to: email,
            subject: "Your Parley code".into(),
            body: format!(
                "Your code to verify this address on Parley is {code}.\n\n\
                 It is good for 30 minutes. If you did not ask for it, ignore this mail.\n"
            ),
        })
        .map_err(|_| ApiError::Busy {
            retry_after_secs: 5,
        })?;
    tracing::info!(user_id = user.id, "email code queued");
    let account = state
        .store
        .user_by_id(user.id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    own_user_as(&state, &account, StatusCode::ACCEPTED).await
}

/// Verify the caller's email address with the mailed code.
#[utoipa::path(
    tag = "auth",
    operation_id = "verify_email",
    security(("bearer" = [])),
    request_body = EmailCode,
    responses(
        (status = 200, description = "Verified", body = OwnUserView),
        (status = 400, description = "`invalid_code`: not the code last mailed, or it expired, \
            was used or was tried wrong 5 times; `invalid_request`: malformed JSON, an unknown \
            field or a missing one", body = ErrorBody),
        Unauthorized,
        (status = 409, description = "`email_taken`: another account verified this address",
            body = ErrorBody),
        JsonBodyRefused,
        InternalError,
        (status = 503, description = "`mail_unavailable`: the server sends no mail (no \
            `SMTP_URL`)", body = ErrorBody),
    ),
)]
#[post("/me/email/verify")]
pub async fn verify_email(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<EmailCode>,
) -> Result<HttpResponse, ApiError> {
    mailer(&state)?;
    let code = body.into_inner().code;
    let user_id = user.id;
    let matches = move |stored: &[u8]| mail_secrets::email_code_matches(user_id, &code, stored);
    let checked = state
        .store
        .check_email_code(user.id, &matches, chrono::Utc::now(), MAX_CODE_TRIES)
        .await?;
    match checked {
        CodeCheck::Verified => {
            tracing::info!(user_id = user.id, "email verified");
            let account = state
                .store
                .user_by_id(user.id)
                .await?
                .ok_or(ApiError::Unauthorized)?;
            own_user_as(&state, &account, StatusCode::OK).await
        }
        CodeCheck::Wrong => {
            crate::metrics::auth_failure("invalid_email_code");
            Err(ApiError::bad_request(
                "invalid_code",
                "that code is not right, or it expired",
            ))
        }
        CodeCheck::Taken => Err(ApiError::Conflict {
            code: "email_taken",
            message: "another account uses this address".into(),
        }),
    }
}
