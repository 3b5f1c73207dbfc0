//! Uploaded files as the database knows them (README, "Files"): the
//! `files` rows, each user's quota (`users.file_bytes`, reserved with a
//! conditional update so concurrent uploads never pass it together), and
//! the durable erasure queue (`file_erasures`) that the sweeper
//! (`files::sweeper`) empties. Migration `0010_files.sql` (Postgres) /
//! `0008_files.sql` (SQLite) has the schema; a trigger queues the objects of
//! every deleted file row, whatever deleted it. Attaching files to a message
//! is part of the append (`store/plan/attachments.rs`), under the room's
//! lock.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{StoreResult, Timestamp};

/// A file to record once its bytes are stored.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub id: String,
    pub room_id: i64,
    pub uploader_id: i64,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    /// (width, height) of an image within the decoding limits.
    pub image: Option<(u32, u32)>,
    /// Whether a thumbnail object was stored.
    pub thumbnail: bool,
}

/// An image's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSize {
    pub width: u32,
    pub height: u32,
}

/// What is shown of a file (the `file` object without its URLs): in the
/// upload's answer, and in a message's `attachments` (stored with the
/// message as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    pub id: String,
    pub room: String,
    pub uploader: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub created_at: Timestamp,
    pub image: Option<ImageSize>,
    pub thumbnail: bool,
}

/// A stored file with what serving it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub meta: FileMeta,
    pub room_id: i64,
    pub uploader_id: i64,
    /// The seq of the message it is attached to; None until attached.
    pub message_seq: Option<i64>,
}

/// A file as the append sees it when a message names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachable {
    pub meta: FileMeta,
    pub room_id: i64,
    pub uploader_id: i64,
    pub attached: bool,
}

/// An object of the erasure queue, claimed by one sweeper.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Erasure {
    pub id: i64,
    pub file_id: String,
}

/// A file row as read (both backends; `T` is the backend's time type).
#[derive(sqlx::FromRow)]
pub(super) struct FileRow<T> {
    pub id: String,
    pub room_id: i64,
    pub room: String,
    pub uploader_id: i64,
    pub uploader: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub thumbnail: bool,
    pub message_seq: Option<i64>,
    pub created_at: T,
}

/// The columns of a [`FileRow`] (aliases `f`, `r`, `u`), followed by `$rest`.
macro_rules! select_files {
    ($rest:literal) => {
        concat!(
            "SELECT f.id, f.room_id, r.name AS room, f.uploader_id, u.username AS uploader, \
                    f.name, f.content_type, f.size, f.sha256, f.width, f.height, f.thumbnail, \
                    f.message_seq, f.created_at \
             FROM files f JOIN rooms r ON r.id = f.room_id JOIN users u ON u.id = f.uploader_id ",
            $rest
        )
    };
}
pub(super) use select_files;

impl<T: Into<Timestamp>> From<FileRow<T>> for StoredFile {
    fn from(row: FileRow<T>) -> Self {
        let image = match (row.width, row.height) {
            (Some(w), Some(h)) => Some(ImageSize {
                width: u32::try_from(w).unwrap_or(0),
                height: u32::try_from(h).unwrap_or(0),
            }),
            _ => None,
        };
        StoredFile {
            meta: FileMeta {
                id: row.id,
                room: row.room,
                uploader: row.uploader,
                name: row.name,
                content_type: row.content_type,
                size: row.size,
                sha256: row.sha256,
                created_at: row.created_at.into(),
                image,
                thumbnail: row.thumbnail,
            },
            room_id: row.room_id,
            uploader_id: row.uploader_id,
            message_seq: row.message_seq,
        }
    }
}

impl From<StoredFile> for Attachable {
    fn from(f: StoredFile) -> Self {
        Attachable {
            attached: f.message_seq.is_some(),
            meta: f.meta,
            room_id: f.room_id,
            uploader_id: f.uploader_id,
        }
    }
}

#[async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// Reserves `bytes` of `user_id`'s quota for the upload `file_id` (false
    /// when that would pass `quota`), and queues its objects for erasure at
    /// `abandon_at` unless [`finish_upload`](Self::finish_upload) comes
    /// first (a crash mid-upload leaves nothing behind for long).
    async fn reserve_upload(
        &self,
        file_id: &str,
        user_id: i64,
        bytes: i64,
        quota: i64,
        abandon_at: Timestamp,
    ) -> StoreResult<bool>;

    /// Records the stored file, gives back what was reserved beyond its
    /// size, and takes its objects off the erasure queue. None when the
    /// reservation is gone (swept as abandoned).
    async fn finish_upload(&self, file: &NewFile, reserved: i64)
    -> StoreResult<Option<StoredFile>>;

    /// An upload given up: its reservation is released at once when
    /// `objects_removed`, else its objects are erased by the sweeper (which
    /// then releases it).
    async fn abandon_upload(&self, file_id: &str, objects_removed: bool) -> StoreResult<()>;

    async fn file(&self, file_id: &str) -> StoreResult<Option<StoredFile>>;

    /// Deletes every file `user_id` uploaded (account deletion, section 15):
    /// their objects are erased within a minute. Returns how many.
    async fn erase_user_files(&self, user_id: i64) -> StoreResult<u64>;

    /// Deletes the files never attached that were uploaded before
    /// `unattached_before`, and those attached to messages the retention
    /// pruned (at or below their room's horizon). Returns how many.
    async fn expire_files(&self, unattached_before: Timestamp) -> StoreResult<u64>;

    /// Claims up to `limit` due erasures until `lease_until` (another
    /// sweeper skips them until then).
    async fn claim_erasures(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<Erasure>>;

    /// The objects of `ids` are gone: the rows are deleted and their bytes
    /// released from their users' quotas.
    async fn finish_erasures(&self, ids: &[i64]) -> StoreResult<()>;

    /// `user_id`'s reserved and stored bytes (for tests and metrics).
    async fn file_bytes(&self, user_id: i64) -> StoreResult<i64>;
}
