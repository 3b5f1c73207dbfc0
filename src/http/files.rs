//! Files over HTTP (README, "Files"): the streamed upload to a room, and
//! downloads of a file or its thumbnail, by Bearer token (checked against
//! the room at once) or by signed URL (checked without the database:
//! `files::signing`).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

use super::writing::{charge_send, enter_to_write};
use crate::access::visible_room;
use crate::auth::AuthUser;
use crate::error::{ApiError, Body as ErrorBody};
use crate::files::storage::Variant;
use crate::files::{Upload, UploadError, signing, sniff};
use crate::http::responses::{DownloadRefused, InternalError, RoomNotFound, Unauthorized};
use crate::state::AppState;
use crate::store::files::StoredFile;
use crate::views::FileView;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file's name: 1–255 bytes, no `/`, `\` or control characters.
    filename: Option<String>,
}

/// Upload a file to a room.
///
/// The body is the file's raw bytes (not JSON, not multipart), streamed to
/// the storage. Its `content_type` is sniffed from the bytes; the declared
/// `Content-Type` counts only where they do not tell. Images (PNG, JPEG,
/// GIF, WebP up to 50 megapixels) get `image` and a thumbnail. Writing
/// rules as for posting a message: a public room is joined, and the upload
/// counts against the send rate. The file stays unattached until a message
/// names it in `attachments`; never attached, it is removed after 24 h.
#[utoipa::path(
    tag = "files",
    operation_id = "upload_file",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "*/*", description = "The file's bytes"),
    responses(
        (status = 201, description = "Stored", body = FileView),
        (status = 400, description = "`invalid_filename`: missing, empty, over 255 bytes, \
            or with `/`, `\\` or a control character", body = ErrorBody),
        Unauthorized,
        (status = 403, description = "`blocked`: the other user of this direct conversation \
            blocks the caller", body = ErrorBody),
        RoomNotFound,
        (status = 413, description = "`file_too_large`: over `MAX_UPLOAD_BYTES`; \
            `quota_exceeded`: the caller's files would pass `USER_QUOTA_BYTES`",
            body = ErrorBody),
        (status = 429, description = "`rate_limited`: the sender's rate bucket would take \
            over 5 s to refill", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry may succeed"))),
        InternalError,
    ),
)]
#[post("/rooms/{name}/files")]
pub async fn upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
    query: web::Query<UploadQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let filename = query
        .filename
        .as_deref()
        .filter(|n| sniff::valid_name(n))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_filename",
                "filename must be 1-255 bytes without /, \\ or control characters",
            )
        })?;
    let room = enter_to_write(&state, &user, &name).await?;
    charge_send(&state, &user)?.await;
    let headers = req.headers();
    let upload = Upload {
        room_id: room.id,
        uploader_id: user.id,
        name: filename.to_string(),
        declared_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        declared_len: headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()),
    };
    let file = state
        .files
        .upload(upload, body)
        .await
        .map_err(|e| match e {
            UploadError::TooLarge => ApiError::FileTooLarge,
            UploadError::QuotaExceeded => ApiError::QuotaExceeded,
            UploadError::Body(m) => ApiError::bad_request("invalid_request", m),
            UploadError::Storage(e) => ApiError::internal(e),
            UploadError::Store(e) => e.into(),
        })?;
    Ok(HttpResponse::Created().json(FileView::of(&file.meta)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignedQuery {
    /// Of a signed URL: when it expires (Unix seconds).
    expires: Option<i64>,
    /// Of a signed URL: its signature.
    sig: Option<String>,
}

/// Download a file.
///
/// With `Authorization: Bearer` (a user who may see the file's room), or
/// as the `url` of a `file` object (signed with `expires` and `sig`: no
/// token needed until it expires). `Range` (one range) answers 206;
/// `If-None-Match` with the `ETag` (the sha256) answers 304. PNG, JPEG,
/// GIF, WebP and plain text are served `inline`, everything else as an
/// `attachment`.
#[utoipa::path(
    tag = "files",
    operation_id = "download_file",
    // A Bearer token, or none with a signed URL (`expires`, `sig`).
    security(("bearer" = []), ()),
    params(("id" = String, Path, description = "File id"), SignedQuery,
        ("Range" = Option<String>, Header, description = "`bytes=FIRST-LAST`, one range")),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream",
            body = Vec<u8>),
        (status = 206, description = "The requested range", content_type = "application/octet-stream",
            body = Vec<u8>),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        Unauthorized,
        DownloadRefused,
        InternalError,
    ),
)]
#[get("/files/{id}")]
pub async fn download(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Result<AuthUser, ApiError>,
    id: web::Path<String>,
    query: web::Query<SignedQuery>,
) -> Result<HttpResponse, ApiError> {
    serve(&req, &state, user, &id, &query, Variant::Original).await
}

/// Download an image's thumbnail.
///
/// At most 320 px on its longer side, re-encoded (PNG or JPEG) without the
/// original's metadata. Access, `Range`, `ETag` and `If-None-Match` as for
/// the file itself (its `ETag` is the file's sha256 with `-thumbnail`).
#[utoipa::path(
    tag = "files",
    operation_id = "download_thumbnail",
    // A Bearer token, or none with a signed URL (`expires`, `sig`).
    security(("bearer" = []), ()),
    params(("id" = String, Path, description = "File id"), SignedQuery,
        ("Range" = Option<String>, Header, description = "`bytes=FIRST-LAST`, one range")),
    responses(
        (status = 200, description = "The thumbnail", content_type = "image/jpeg",
            body = Vec<u8>),
        (status = 206, description = "The requested range", content_type = "image/jpeg",
            body = Vec<u8>),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        Unauthorized,
        DownloadRefused,
        InternalError,
    ),
)]
#[get("/files/{id}/thumbnail")]
pub async fn thumbnail(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Result<AuthUser, ApiError>,
    id: web::Path<String>,
    query: web::Query<SignedQuery>,
) -> Result<HttpResponse, ApiError> {
    serve(&req, &state, user, &id, &query, Variant::Thumbnail).await
}

/// The file, once the caller may have it: a valid signature (no database
/// needed for it), or a Bearer token of a user who sees the room now.
async fn serve(
    req: &HttpRequest,
    state: &AppState,
    user: Result<AuthUser, ApiError>,
    id: &str,
    query: &SignedQuery,
    variant: Variant,
) -> Result<HttpResponse, ApiError> {
    let signed = query.sig.is_some() || query.expires.is_some();
    if signed {
        let now = chrono::Utc::now().timestamp();
        let valid = match (query.expires, query.sig.as_deref()) {
            (Some(expires), Some(sig)) => signing::verify(id, variant, expires, sig, now),
            _ => false,
        };
        if !valid {
            return Err(ApiError::InvalidSignature);
        }
    }
    // Ids are 32 lowercase hex digits: anything else is no file.
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        if !signed {
            user?;
        }
        return Err(ApiError::FileNotFound);
    }
    let file = state.store.file(id).await?;
    let file = if signed {
        file.ok_or(ApiError::FileNotFound)?
    } else {
        let user = user?;
        let file = file.ok_or(ApiError::FileNotFound)?;
        visible_room(state.store.as_ref(), &file.meta.room, user.id)
            .await?
            .ok_or(ApiError::FileNotFound)?;
        file
    };
    if variant == Variant::Thumbnail && !file.meta.thumbnail {
        return Err(ApiError::FileNotFound);
    }
    respond(req, state, &file, variant).await
}

/// Where the bytes of an answer come from.
enum Content {
    /// Streamed from the storage (the original, up to `MAX_UPLOAD_BYTES`).
    Stored,
    /// Already read whole (a thumbnail: small, and its type is in its bytes).
    Read(Bytes),
}

/// One object of a file as served: the original or its thumbnail go
/// through the same `ETag`, `If-None-Match`, `Range` and headers.
async fn respond(
    req: &HttpRequest,
    state: &AppState,
    file: &StoredFile,
    variant: Variant,
) -> Result<HttpResponse, ApiError> {
    let meta = &file.meta;
    let etag = match variant {
        Variant::Original => format!("\"{}\"", meta.sha256),
        Variant::Thumbnail => format!("\"{}-thumbnail\"", meta.sha256),
    };
    if not_modified(req, &etag) {
        let mut answer = HttpResponse::NotModified();
        answer
            .insert_header((header::ETAG, etag.as_str()))
            .insert_header((header::CACHE_CONTROL, "private"));
        return Ok(answer.finish());
    }
    let (content, size, content_type, name) = match variant {
        Variant::Original => (
            Content::Stored,
            u64::try_from(meta.size).unwrap_or(0),
            meta.content_type.clone(),
            meta.name.clone(),
        ),
        Variant::Thumbnail => {
            let bytes = state
                .files
                .storage
                .read(&meta.id, Variant::Thumbnail)
                .await
                .map_err(not_found_or_internal)?;
            let kind = if bytes.starts_with(b"\x89PNG") {
                "image/png"
            } else {
                "image/jpeg"
            };
            let size = bytes.len() as u64;
            (
                Content::Read(bytes),
                size,
                kind.to_string(),
                format!("thumbnail-{}", meta.name),
            )
        }
    };
    let mut ok = HttpResponse::Ok();
    ok.insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "private"))
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            sniff::disposition(&content_type, &name),
        ))
        .insert_header((header::CONTENT_TYPE, content_type));
    let range = requested_range(req, size)?;
    if let Some(range) = &range {
        ok.status(actix_web::http::StatusCode::PARTIAL_CONTENT);
        ok.insert_header((
            header::CONTENT_RANGE,
            format!("bytes {}-{}/{size}", range.start, range.end - 1),
        ));
    }
    let length = range.as_ref().map_or(size, |r| r.end - r.start);
    if length == 0 {
        return Ok(ok.finish());
    }
    match content {
        Content::Read(bytes) => {
            let bytes = match range {
                // Within `size`, the length of `bytes`: `requested_range` says so.
                Some(r) => bytes.slice(r.start as usize..r.end as usize),
                None => bytes,
            };
            Ok(ok.body(bytes))
        }
        Content::Stored => {
            let stream = state
                .files
                .storage
                .get(&meta.id, variant, range)
                .await
                .map_err(not_found_or_internal)?;
            ok.no_chunking(length);
            Ok(ok.streaming(stream.map(|chunk| chunk.map_err(std::io::Error::other))))
        }
    }
}

/// Whether `If-None-Match` names `etag` (or `*`).
fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim();
                t == etag || t == "*" || t.trim_start_matches("W/") == etag
            })
        })
}

fn not_found_or_internal(e: crate::files::storage::StorageError) -> ApiError {
    match e {
        crate::files::storage::StorageError::NotFound { .. } => ApiError::FileNotFound,
        e => ApiError::internal(e),
    }
}

/// The one range of a `Range: bytes=…` header, within `size`: None when
/// absent or not a single byte range (the whole file is served, RFC 9110
/// 14.2); 416 when it lies past the end.
fn requested_range(req: &HttpRequest, size: u64) -> Result<Option<std::ops::Range<u64>>, ApiError> {
    let Some(value) = req.headers().get(header::RANGE) else {
        return Ok(None);
    };
    parse_range(value, size).map_err(|()| ApiError::RangeNotSatisfiable { size })
}

fn parse_range(value: &HeaderValue, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(spec) = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let range = match (first.trim(), last.trim()) {
        ("", "") => return Ok(None),
        ("", suffix) => {
            let Ok(n) = suffix.parse::<u64>() else {
                return Ok(None);
            };
            if n == 0 {
                return Err(());
            }
            size.saturating_sub(n)..size
        }
        (first, last) => {
            let Ok(first) = first.parse::<u64>() else {
                return Ok(None);
            };
            let end = if last.is_empty() {
                size
            } else {
                let Ok(last) = last.parse::<u64>() else {
                    return Ok(None);
                };
                if last < first {
                    return Ok(None);
                }
                last.saturating_add(1).min(size)
            };
            if first >= size {
                return Err(());
            }
            first..end
        }
    };
    if range.is_empty() {
        Err(())
    } else {
        Ok(Some(range))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(v: &str, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
        parse_range(&HeaderValue::from_str(v).unwrap(), size)
    }

    #[test]
    fn ranges() {
        assert_eq!(range("bytes=0-9", 100), Ok(Some(0..10)));
        assert_eq!(range("bytes=90-", 100), Ok(Some(90..100)));
        assert_eq!(range("bytes=-10", 100), Ok(Some(90..100)));
        assert_eq!(range("bytes=95-200", 100), Ok(Some(95..100)));
        assert_eq!(range("bytes=100-", 100), Err(()));
        assert_eq!(range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(range("items=0-1", 100), Ok(None));
        assert_eq!(range("bytes=5-1", 100), Ok(None));
    }
}
