//! The JSON of a `file` (README, "Files"): what is known of it and its
//! signed URLs, issued when it is rendered.

use serde::Serialize;
use utoipa::ToSchema;

use super::time;
use crate::files::signing;
use crate::files::storage::Variant;
use crate::store::Timestamp;
use crate::store::files::FileMeta;

/// An uploaded file.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = File)]
pub struct FileView<'a> {
    /// Random and unguessable.
    #[schema(example = "3f2c9a0e5b7d4e1f8a6c2b9d0e7f1a3c")]
    pub id: &'a str,
    /// The room it was uploaded to.
    #[schema(example = "general")]
    pub room: &'a str,
    /// Username of the uploader.
    #[schema(example = "alice")]
    pub uploader: &'a str,
    /// The name it was uploaded with.
    #[schema(example = "photo.jpg")]
    pub name: &'a str,
    /// What the bytes are (sniffed); the declared type only where the bytes
    /// do not tell.
    #[schema(example = "image/jpeg")]
    pub content_type: &'a str,
    /// Bytes.
    #[schema(example = 123456, minimum = 0)]
    pub size: i64,
    /// SHA-256 of the bytes, lowercase hex (also the download's `ETag`).
    #[schema(example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")]
    pub sha256: &'a str,
    /// RFC 3339, UTC, milliseconds.
    #[serde(serialize_with = "time")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-24T18:00:01.123Z")]
    pub created_at: Timestamp,
    /// An image's size; null for other files and for images over 50
    /// megapixels (kept as plain files).
    #[schema(required = true)]
    pub image: Option<ImageView>,
    /// Signed download URL: works without a token until `FILE_URL_TTL_SECS`
    /// after it was issued.
    #[schema(example = "/api/v1/files/3f2c9a0e5b7d4e1f8a6c2b9d0e7f1a3c?expires=1796000000&sig=…")]
    pub url: String,
    /// Signed URL of a re-encoded copy at most 320 px on its longer side;
    /// null unless `image` is set.
    #[schema(required = true)]
    pub thumbnail_url: Option<String>,
}

/// An image's size in pixels.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[schema(as = ImageSize)]
pub struct ImageView {
    #[schema(example = 1280)]
    pub width: u32,
    #[schema(example = 960)]
    pub height: u32,
}

impl<'a> FileView<'a> {
    /// The file with URLs signed now.
    pub fn of(meta: &'a FileMeta) -> Self {
        let now = chrono::Utc::now().timestamp();
        FileView {
            id: &meta.id,
            room: &meta.room,
            uploader: &meta.uploader,
            name: &meta.name,
            content_type: &meta.content_type,
            size: meta.size,
            sha256: &meta.sha256,
            created_at: meta.created_at,
            image: meta.image.map(|i| ImageView {
                width: i.width,
                height: i.height,
            }),
            url: signing::url(&meta.id, Variant::Original, now),
            thumbnail_url: meta
                .thumbnail
                .then(|| signing::url(&meta.id, Variant::Thumbnail, now)),
        }
    }
}
