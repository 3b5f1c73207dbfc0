//! Two-factor authentication (README, "Accounts"): `POST /me/totp` starts a
//! setup (a new secret, shown once, and its `otpauth://` URI), `POST
//! /me/totp/confirm` enables it with a first code and answers ten recovery
//! codes (shown once), `DELETE /me/totp` turns it off with a code. Login
//! asks [`second_factor`] once the password is right. Every wrong code is
//! counted with the login failures of the account (`LOGIN_FAILURES_PER_USER`).

use std::time::Instant;

use actix_web::{HttpResponse, delete, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::auth::jwt::now_secs;
use crate::auth::totp;
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::auth::too_many;
use crate::http::responses::{InternalError, JsonBodyRefused, Unauthorized};
use crate::state::AppState;
use crate::store::User;

/// A new secret for the caller's authenticator app.
#[derive(Serialize, ToSchema)]
#[schema(as = TotpSetup)]
struct Setup {
    /// Base32, for typing into an app (shown only now).
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    secret: String,
    /// The same for a QR code.
    #[schema(
        example = "otpauth://totp/Parley:alice?secret=JBSW…&issuer=Parley&algorithm=SHA1&digits=6&period=30"
    )]
    otpauth_uri: String,
}

/// A code from the authenticator app (or, to turn two-factor off, an unused
/// recovery code).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    #[schema(example = "123456")]
    code: String,
}

/// The recovery codes, each usable once instead of a code (shown only now).
#[derive(Serialize, ToSchema)]
struct RecoveryCodes {
    #[schema(example = json!(["abcd-efgh-ijkm-npqr"]))]
    recovery_codes: Vec<String>,
}

fn invalid_code() -> ApiError {
    crate::metrics::auth_failure("invalid_totp");
    ApiError::bad_request(
        "invalid_code",
        "that code is not right (or was already used)",
    )
}

/// Charges one failure to `username` before a code is checked; the guard
/// gives it back unless [`Charged::keep`] is called.
struct Charged<'a> {
    state: &'a AppState,
    key: String,
    kept: bool,
}

impl<'a> Charged<'a> {
    fn hit(state: &'a AppState, username: &str) -> Result<Self, ApiError> {
        let key = username.to_lowercase();
        state
            .login_failures_per_user
            .hit(&key, Instant::now())
            .map_err(|retry| too_many(retry, "login_user"))?;
        Ok(Charged {
            state,
            key,
            kept: false,
        })
    }

    /// The code was wrong: the failure stays counted.
    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Charged<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.state
                .login_failures_per_user
                .refund(&self.key, Instant::now());
        }
    }
}

/// Whether `code` (a current TOTP code or an unused recovery code) is good
/// for the user now; a good one is spent (each step and each recovery code
/// is accepted once, also when presented twice at once).
async fn spend_code(state: &AppState, user_id: i64, code: &str) -> Result<bool, ApiError> {
    let stored = state.store.totp_state(user_id).await?;
    if !stored.enabled {
        return Ok(false);
    }
    if let Some(secret) = stored
        .secret
        .as_deref()
        .and_then(|s| state.totp_key.open(s))
        && let Some(step) = totp::step_of(&secret, code, now_secs() as u64)
    {
        return Ok(state.store.use_totp_step(user_id, step).await?);
    }
    match totp::recovery_hash_of_input(code) {
        Some(hash) => Ok(state
            .store
            .use_recovery_code(user_id, &hash, chrono::Utc::now())
            .await?),
        None => Ok(false),
    }
}

/// The second factor of a login whose password was right: nothing for an
/// account without two-factor; else 401 `totp_required` without a code,
/// 401 `invalid_credentials` (a counted failure) for a wrong one.
pub(super) async fn second_factor(
    state: &AppState,
    user: &User,
    code: Option<&str>,
) -> Result<(), ApiError> {
    if !state.store.totp_state(user.id).await?.enabled {
        return Ok(());
    }
    let Some(code) = code else {
        return Err(ApiError::TotpRequired);
    };
    let charged = Charged::hit(state, &user.username)?;
    if spend_code(state, user.id, code).await? {
        return Ok(());
    }
    charged.keep();
    crate::metrics::auth_failure("invalid_totp");
    Err(ApiError::InvalidCredentials)
}

/// Start setting up two-factor authentication.
///
/// A new secret (replacing one not yet confirmed); two-factor is on only
/// once a code from it is confirmed.
#[utoipa::path(
    tag = "auth",
    operation_id = "setup_totp",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The secret, shown only now", body = Setup),
        Unauthorized,
        (status = 409, description = "`totp_enabled`: two-factor is already on (turn it off \
            first)", body = ErrorBody),
        InternalError,
    ),
)]
#[post("/me/totp")]
pub async fn setup(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let (stored, secret) = state.totp_key.new_secret();
    if !state.store.set_totp_secret(user.id, &stored).await? {
        return Err(ApiError::Conflict {
            code: "totp_enabled",
            message: "two-factor authentication is already on".into(),
        });
    }
    let otpauth_uri = totp::otpauth_uri(&user.username, &secret);
    Ok(HttpResponse::Ok().json(Setup {
        secret,
        otpauth_uri,
    }))
}

/// Turn two-factor authentication on with a first code.
///
/// From then on a login needs `totp` too. The answer holds ten recovery
/// codes, each usable once in place of a code; they are not shown again.
#[utoipa::path(
    tag = "auth",
    operation_id = "confirm_totp",
    security(("bearer" = [])),
    request_body = TotpCode,
    responses(
        (status = 200, description = "Two-factor is on", body = RecoveryCodes),
        (status = 400, description = "`invalid_code`: not the current code of the secret being \
            set up (or no setup started); `invalid_request`: malformed JSON, an unknown field or \
            a missing one", body = ErrorBody),
        Unauthorized,
        (status = 409, description = "`totp_enabled`: two-factor is already on",
            body = ErrorBody),
        JsonBodyRefused,
        (status = 429, description = "`too_many_attempts`: too many wrong codes or passwords \
            for this account", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry may succeed"))),
        InternalError,
    ),
)]
#[post("/me/totp/confirm")]
pub async fn confirm(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<TotpCode>,
) -> Result<HttpResponse, ApiError> {
    let stored = state.store.totp_state(user.id).await?;
    if stored.enabled {
        return Err(ApiError::Conflict {
            code: "totp_enabled",
            message: "two-factor authentication is already on".into(),
        });
    }
    let charged = Charged::hit(&state, &user.username)?;
    let secret = stored
        .secret
        .as_deref()
        .and_then(|s| state.totp_key.open(s));
    let step = secret.and_then(|s| totp::step_of(&s, &body.code, now_secs() as u64));
    let Some(step) = step else {
        charged.keep();
        return Err(invalid_code());
    };
    let (codes, hashes) = totp::recovery_codes();
    if !state.store.enable_totp(user.id, step, &hashes).await? {
        charged.keep();
        return Err(invalid_code()); // enabled meanwhile, or that step was used
    }
    drop(charged);
    tracing::info!(user_id = user.id, "two-factor authentication enabled");
    Ok(HttpResponse::Ok().json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

/// Turn two-factor authentication off.
///
/// Needs a current code, or an unused recovery code.
#[utoipa::path(
    tag = "auth",
    operation_id = "disable_totp",
    security(("bearer" = [])),
    request_body = TotpCode,
    responses(
        (status = 204, description = "Two-factor is off"),
        (status = 400, description = "`invalid_code`: neither a current code nor an unused \
            recovery code (or two-factor is off); `invalid_request`: malformed JSON, an unknown \
            field or a missing one", body = ErrorBody),
        Unauthorized,
        JsonBodyRefused,
        (status = 429, description = "`too_many_attempts`: too many wrong codes or passwords \
            for this account", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry may succeed"))),
        InternalError,
    ),
)]
#[delete("/me/totp")]
pub async fn disable(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<TotpCode>,
) -> Result<HttpResponse, ApiError> {
    let charged = Charged::hit(&state, &user.username)?;
    if !spend_code(&state, user.id, &body.code).await? {
        charged.keep();
        return Err(invalid_code());
    }
    drop(charged);
    state.store.disable_totp(user.id).await?;
    tracing::info!(user_id = user.id, "two-factor authentication disabled");
    Ok(HttpResponse::NoContent().finish())
}
