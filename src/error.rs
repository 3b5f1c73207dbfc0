//! The REST error type: every failure a client sees has a status and a stable
//! snake_case code, serialised as `{"error":{"code","message"}}`. Server-side
//! failures hide their cause from the client and log it instead.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::{Refusal, StoreError, moderation};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("authentication required")]
    Unauthorized,
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// The password was right; the account also needs a two-factor code.
    #[error("a two-factor code is required")]
    TotpRequired,
    /// No `SMTP_URL`: the routes that send mail are off.
    #[error("this server sends no mail")]
    MailUnavailable,
    #[error("you may not do that in this room")]
    Forbidden,
    #[error("this user blocks you")]
    Blocked,
    /// An administrator deactivated the account (README, "Administration").
    #[error("this account is deactivated")]
    AccountDeactivated,
    /// A refresh or logout by cookie from a browser origin not in
    /// `ALLOWED_ORIGINS`.
    #[error("this Origin may not use the refresh cookie")]
    ForbiddenOrigin,
    #[error("only members of the room may do that")]
    NotAMember,
    #[error("room not found")]
    RoomNotFound,
    /// No message at that seq is a thread's root.
    #[error("thread not found")]
    ThreadNotFound,
    /// A thread read marker moved by one who does not follow the thread.
    #[error("you do not follow this thread")]
    NotFollowing,
    #[error("user not found")]
    UserNotFound,
    #[error("push subscription not found")]
    SubscriptionNotFound,
    #[error("not found")]
    NotFound,
    /// No such webhook (README, "Bots and webhooks").
    #[error("no such webhook")]
    WebhookNotFound,
    /// A known path, a method it does not serve; `allow` lists those it does.
    #[error("method not allowed; this path allows {allow}")]
    MethodNotAllowed { allow: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("file not found")]
    FileNotFound,
    #[error("the file URL is altered or expired")]
    InvalidSignature,
    #[error("the file is larger than MAX_UPLOAD_BYTES")]
    FileTooLarge,
    #[error("your files would exceed USER_QUOTA_BYTES")]
    QuotaExceeded,
    #[error("range not satisfiable")]
    RangeNotSatisfiable { size: u64 },
    #[error("unsupported media type: send application/json")]
    UnsupportedMediaType,
    #[error("too many attempts, try again later")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("sending too fast, slow down")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("too many open connections for this user")]
    TooManyConnections,
    #[error("service unavailable")]
    Unavailable,
    #[error("the server is busy, try again shortly")]
    Busy { retry_after_secs: u64 },
    /// A slash command gave no answer in time (README, "Bots and webhooks").
    #[error("the command did not answer in time")]
    CommandTimeout,
    /// A slash command answered with an error or something not a message.
    #[error("{0}")]
    CommandFailed(String),
    /// The room's log refused an edit, deletion, reaction or reply.
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(e))
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } | ApiError::Conflict { code, .. } => code,
            ApiError::Unauthorized => "unauthorized",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::InvalidRefreshToken => "invalid_refresh_token",
            ApiError::TotpRequired => "totp_required",
            ApiError::MailUnavailable => "mail_unavailable",
            ApiError::Forbidden => "forbidden",
            ApiError::Blocked => "blocked",
            ApiError::AccountDeactivated => "account_deactivated",
            ApiError::ForbiddenOrigin => "forbidden_origin",
            ApiError::NotAMember => "not_a_member",
            ApiError::RoomNotFound => "room_not_found",
            ApiError::ThreadNotFound => "thread_not_found",
            ApiError::NotFollowing => "not_following",
            ApiError::UserNotFound => "user_not_found",
            ApiError::SubscriptionNotFound => "subscription_not_found",
            ApiError::NotFound => "not_found",
            ApiError::WebhookNotFound => "webhook_not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::FileNotFound => "file_not_found",
            ApiError::InvalidSignature => "invalid_signature",
            ApiError::FileTooLarge => "file_too_large",
            ApiError::QuotaExceeded => "quota_exceeded",
            ApiError::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::TooManyAttempts { .. } => "too_many_attempts",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::TooManyConnections => "too_many_connections",
            ApiError::Unavailable => "unavailable",
            ApiError::Busy { .. } => "busy",
            ApiError::CommandTimeout => "command_timeout",
            ApiError::CommandFailed(_) => "command_failed",
            ApiError::Refused(refusal) => match refusal {
                Refusal::MessageNotFound => "message_not_found",
                Refusal::Forbidden => "forbidden",
                Refusal::MessageDeleted => "message_deleted",
                Refusal::ReactionNotFound => "reaction_not_found",
                Refusal::InvalidReply => "invalid_reply",
                Refusal::InvalidAttachment => "invalid_attachment",
            },
            ApiError::Internal(_) => "internal_error",
        }
    }
}

/// The body of every error answer.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = ErrorDetail)]
pub(crate) struct Detail<'a> {
    /// Stable, machine-readable snake_case code; each operation lists the
    /// codes it can answer with in its responses.
    #[schema(example = "room_not_found")]
    code: &'a str,
    /// Human-readable text; may change between versions.
    #[schema(example = "room not found")]
    message: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized
            | ApiError::InvalidCredentials
            | ApiError::InvalidRefreshToken
            | ApiError::TotpRequired => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden
            | ApiError::AccountDeactivated
            | ApiError::Blocked
            | ApiError::NotAMember
            | ApiError::NotFollowing
            | ApiError::ForbiddenOrigin => StatusCode::FORBIDDEN,
            ApiError::RoomNotFound
            | ApiError::ThreadNotFound
            | ApiError::UserNotFound
            | ApiError::SubscriptionNotFound
            | ApiError::NotFound
            | ApiError::WebhookNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge | ApiError::FileTooLarge | ApiError::QuotaExceeded => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::FileNotFound => StatusCode::NOT_FOUND,
            ApiError::InvalidSignature => StatusCode::FORBIDDEN,
            ApiError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyAttempts { .. }
            | ApiError::TooManyRequests { .. }
            | ApiError::TooManyConnections => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable | ApiError::Busy { .. } | ApiError::MailUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::CommandTimeout => StatusCode::GATEWAY_TIMEOUT,
            ApiError::CommandFailed(_) => StatusCode::BAD_GATEWAY,
            ApiError::Refused(refusal) => match refusal {
                Refusal::MessageNotFound | Refusal::ReactionNotFound => StatusCode::NOT_FOUND,
                Refusal::Forbidden => StatusCode::FORBIDDEN,
                Refusal::MessageDeleted => StatusCode::CONFLICT,
                Refusal::InvalidReply | Refusal::InvalidAttachment => StatusCode::BAD_REQUEST,
            },
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = %cause, "internal error");
        }
        let mut resp = HttpResponse::build(self.status_code());
        if let ApiError::TooManyAttempts { retry_after_secs }
        | ApiError::TooManyRequests { retry_after_secs }
        | ApiError::Busy { retry_after_secs } = self
        {
            resp.insert_header(("Retry-After", retry_after_secs.to_string()));
        }
        if let ApiError::RangeNotSatisfiable { size } = self {
            resp.insert_header((
                actix_web::http::header::CONTENT_RANGE,
                format!("bytes */{size}"),
            ));
        }
        if matches!(self, ApiError::Unauthorized) {
            resp.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if let ApiError::MethodNotAllowed { allow } = self {
            resp.insert_header((actix_web::http::header::ALLOW, allow.as_str()));
        }
        resp.json(Body {
            error: Detail {
                code: self.code(),
                message: self.to_string(),
            },
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UsernameTaken => ApiError::Conflict {
                code: "username_taken",
                message: "that username is taken".into(),
            },
            StoreError::RoomExists => ApiError::Conflict {
                code: "room_exists",
                message: "a room with that name exists".into(),
            },
            StoreError::RoomNotFound => ApiError::RoomNotFound,
            other => ApiError::internal(other),
        }
    }
}

impl From<moderation::Denial> for ApiError {
    fn from(refusal: moderation::Denial) -> Self {
        use moderation::Denial::*;
        let conflict = |code| ApiError::Conflict {
            code,
            message: refusal.to_string(),
        };
        match refusal {
            Forbidden => ApiError::Forbidden,
            UserNotFound => ApiError::UserNotFound,
            UserBanned => conflict("user_banned"),
            OwnerCannotLeave => conflict("owner_cannot_leave"),
        }
    }
}
