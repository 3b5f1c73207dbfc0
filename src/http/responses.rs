//! The error answers that many operations document alike, written once for
//! `#[utoipa::path(responses(..))]`. An operation lists these types beside
//! its own answers, e.g. `responses((status = 200, ..), Unauthorized,
//! InternalError)`; an answer whose codes differ for one operation stays a
//! tuple there.
//!
//! These types are never built: they only carry the documentation
//! (`utoipa::IntoResponses`), each with the shared `Error` body.
#![allow(dead_code)] // never built, see above

use utoipa::IntoResponses;

use crate::error::Body as ErrorBody;

/// 401 for a bearer-authenticated operation.
#[derive(IntoResponses)]
#[response(
    status = 401,
    description = "`unauthorized`: missing, malformed, expired or forged access token",
    headers(("WWW-Authenticate" = String, description = "`Bearer`"))
)]
pub(super) struct Unauthorized(ErrorBody<'static>);

/// 404 for an operation on a room the caller names.
#[derive(IntoResponses)]
#[response(
    status = 404,
    description = "`room_not_found`: no such room, a private room the caller is not a \
        member of, or a room the caller is banned from"
)]
pub(super) struct RoomNotFound(ErrorBody<'static>);

/// 400 for an operation whose JSON body has no other rule to break.
#[derive(IntoResponses)]
#[response(
    status = 400,
    description = "`invalid_request`: malformed JSON, an unknown field or a missing one"
)]
pub(super) struct InvalidRequest(ErrorBody<'static>);

/// 413 and 415 for an operation that takes a JSON body.
#[derive(IntoResponses)]
pub(super) enum JsonBodyRefused {
    #[response(status = 413, description = "`payload_too_large`: body over 64 KiB")]
    TooLarge(ErrorBody<'static>),
    #[response(
        status = 415,
        description = "`unsupported_media_type`: Content-Type is not `application/json`"
    )]
    NotJson(ErrorBody<'static>),
}

/// 503 when the password-hashing queue is full.
#[derive(IntoResponses)]
#[response(
    status = 503,
    description = "`busy`: too many password hashes waiting (`PASSWORD_HASH_QUEUE`)",
    headers(("Retry-After" = u64, description = "Seconds until a retry may succeed"))
)]
pub(super) struct HashingBusy(ErrorBody<'static>);

/// 500, which any operation can answer.
#[derive(IntoResponses)]
#[response(
    status = 500,
    description = "`internal_error`: server-side failure (logged, not disclosed)"
)]
pub(super) struct InternalError(ErrorBody<'static>);

/// 403 for a membership change the caller's role does not allow.
#[derive(IntoResponses)]
#[response(
    status = 403,
    description = "`forbidden`: the caller's role does not allow it (members remove, ban and \
        add nobody; moderators act on members only; nobody on the owner), or the room is a \
        direct conversation, whose membership never changes"
)]
pub(super) struct ModerationForbidden(ErrorBody<'static>);

/// The refusals of a file download (a file or its thumbnail, by token or
/// signed URL).
#[derive(IntoResponses)]
pub(super) enum DownloadRefused {
    #[response(
        status = 400,
        description = "`invalid_query`: `expires` or `sig` malformed (e.g. repeated, or not a \
            number)"
    )]
    InvalidQuery(ErrorBody<'static>),
    #[response(
        status = 403,
        description = "`invalid_signature`: a signed URL altered or expired"
    )]
    InvalidSignature(ErrorBody<'static>),
    #[response(
        status = 404,
        description = "`file_not_found`: no such file (for a thumbnail: or no thumbnail), \
            removed, or in a room the caller may not see"
    )]
    FileNotFound(ErrorBody<'static>),
    #[response(
        status = 416,
        description = "`range_not_satisfiable`: the range starts past the end",
        headers(("Content-Range" = String, description = "`bytes */SIZE`"))
    )]
    RangeNotSatisfiable(ErrorBody<'static>),
}
/// 403 for every route under `/admin/`.
#[derive(IntoResponses)]
#[response(status = 403, description = "`forbidden`: not an administrator")]
pub(super) struct NotAdministrator(ErrorBody<'static>);

/// 404 for an administrator's action on an account.
#[derive(IntoResponses)]
#[response(
    status = 404,
    description = "`user_not_found`: no such user (a deleted account included)"
)]
pub(super) struct NoSuchAccount(ErrorBody<'static>);
