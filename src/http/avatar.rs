//! Avatars (README, "Accounts"): `PUT` / `DELETE /me/avatar` and the signed
//! `GET /avatars/{id}`. The picture is decoded under the files' limits and
//! re-encoded as a square of at most [`AVATAR_SIDE`] px
//! (`files::images::square`: only its pixels survive, no metadata), kept in
//! the files storage under a random id that changes with every upload, and
//! served at the URL `avatars.rs` signs. A replaced or removed picture goes
//! through the files' erasure queue.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, put, web};
use bytes::BytesMut;
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

use super::responses::{InternalError, Unauthorized};
use crate::accounts;
use crate::auth::AuthUser;
use crate::avatars::LinkError;
use crate::error::{ApiError, Body as ErrorBody};
use crate::files::images::{self, Kind};
use crate::files::sniff;
use crate::files::storage::Variant;
use crate::state::AppState;
use crate::store::User;
use crate::views::UserView;

/// The side of an avatar, in pixels.
pub const AVATAR_SIDE: u32 = 256;
/// How long a new avatar object may wait to be recorded before the files'
/// sweeper takes it away (a crash between writing it and recording it).
const UNRECORDED_GRACE: Duration = Duration::from_secs(600);

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Records `key` (or none) as `user`'s avatar, tells the people who share
/// a room with them, and answers the user as it now is.
async fn recorded(
    state: &AppState,
    user: &AuthUser,
    key: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let (now, _replaced): (User, _) = state
        .store
        .set_avatar(user.id, key)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    accounts::announce_profile(state, &now).await;
    Ok(HttpResponse::Ok().json(state.user_views.user(&now)))
}

/// Set the caller's picture.
///
/// The body is the image's bytes (PNG, JPEG, GIF or WebP, at most
/// `MAX_AVATAR_BYTES`), not JSON. The server crops its centre to a square,
/// scales it down to at most 256 px (a smaller one is not enlarged) and
/// re-encodes it, so nothing but its pixels survives (no EXIF).
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/*", description = "The image's bytes"),
    responses(
        (status = 200, description = "The caller, with the new `avatar_url`", body = UserView),
        (status = 400, description = "`invalid_image`: not a PNG, JPEG, GIF or WebP image \
            that can be decoded within the limits (50 megapixels)", body = ErrorBody),
        Unauthorized,
        (status = 413, description = "`file_too_large`: over `MAX_AVATAR_BYTES`",
            body = ErrorBody),
        InternalError,
    ),
)]
#[put("/me/avatar")]
pub async fn set_avatar(
    state: web::Data<AppState>,
    user: AuthUser,
    mut body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let limit = usize::try_from(state.config.files.max_avatar_bytes).unwrap_or(usize::MAX);
    let mut bytes = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::FileTooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    let invalid = || {
        ApiError::bad_request(
            "invalid_image",
            "send a PNG, JPEG, GIF or WebP image (at most 50 megapixels)",
        )
    };
    let kind = Kind::of(&sniff::content_type(&bytes, None)).ok_or_else(invalid)?;
    let size = images::probe(&bytes, kind).ok_or_else(invalid)?;
    let side = AVATAR_SIDE.min(size.width).min(size.height);
    let bytes = bytes.freeze();
    let square = images::run(move || images::square(&bytes, kind, side))
        .await
        .map_err(|e| match e {
            images::ImageError::Task => ApiError::internal(e),
            _ => invalid(),
        })?;
    let key = uuid::Uuid::new_v4().simple().to_string();
    let due = chrono::Utc::now()
        + chrono::Duration::from_std(UNRECORDED_GRACE).expect("a short duration");
    state.store.expect_avatar(&key, user.id, due).await?;
    state
        .files
        .storage
        .put(&key, Variant::Original, square.bytes.into())
        .await
        .map_err(ApiError::internal)?;
    recorded(&state, &user, Some(&key)).await
}

/// Remove the caller's picture.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller, `avatar_url` null", body = UserView),
        Unauthorized,
        InternalError,
    ),
)]
#[delete("/me/avatar")]
pub async fn remove_avatar(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    recorded(&state, &user, None).await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AvatarQuery {
    /// When the URL expires (Unix seconds).
    expires: Option<u64>,
    /// The URL's signature.
    sig: Option<String>,
}

/// A user's picture, at the signed `avatar_url` of their `user` object.
///
/// Needs no token: the URL works unaltered until it expires.
#[utoipa::path(
    tag = "accounts",
    params(("id" = String, Path, description = "Avatar id"), AvatarQuery),
    responses(
        (status = 200, description = "The picture (PNG or JPEG)", content_type = "image/*",
            body = Vec<u8>),
        (status = 400, description = "`invalid_query`: `expires` or `sig` malformed (e.g. \
            repeated, or not a number)", body = ErrorBody),
        (status = 403, description = "`invalid_signature`: the URL is altered or expired",
            body = ErrorBody),
        (status = 404, description = "`not_found`: replaced or removed", body = ErrorBody),
        InternalError,
    ),
)]
#[get("/avatars/{id}")]
pub async fn avatar(
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<AvatarQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (Some(expires), Some(sig)) = (query.expires, query.sig.as_deref()) else {
        return Err(ApiError::InvalidSignature);
    };
    match state
        .user_views
        .avatars()
        .check(&id, expires, sig, now_secs())
    {
        Ok(()) => {}
        Err(LinkError::Expired | LinkError::Invalid) => return Err(ApiError::InvalidSignature),
    }
    let bytes = match state.files.storage.read(&id, Variant::Original).await {
        Ok(bytes) => bytes,
        Err(crate::files::storage::StorageError::NotFound { .. }) => {
            return Err(ApiError::NotFound);
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    let content_type = sniff::content_type(&bytes, None);
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "private, max-age=600"))
        .insert_header((header::ETAG, format!("\"{id}\"")))
        .body(bytes))
}
