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

/// One backend's SQL for [`FileStore`]. Binds in order (`$n` on Postgres,
/// `?n` on SQLite); "→ X" is what each row decodes into.
pub(super) struct FileQueries {
    /// (user_id, bytes, quota): adds `bytes` to the user's `file_bytes`
    /// unless that passes `quota` (no row changed then).
    pub reserve_quota: &'static str,
    /// (file_id, user_id, release_bytes, due_at): queues the objects.
    pub queue_erasure: &'static str,
    /// (file_id, now): takes the upload's erasure off the queue if it is
    /// not due yet.
    pub take_erasure: &'static str,
    /// (user_id, bytes): releases bytes of the user's quota (never below 0).
    pub release_bytes: &'static str,
    /// (id, room_id, uploader_id, name, content_type, size, sha256, width,
    /// height, thumbnail, created_at).
    pub insert_file: &'static str,
    /// (id) → [`FileRow`].
    pub file: &'static str,
    /// (file_id): releases the quota its queued erasures hold.
    pub release_file_erasures: &'static str,
    /// (file_id): takes its erasures off the queue.
    pub delete_file_erasures: &'static str,
    /// (file_id, now): makes its erasures due.
    pub due_file_erasures: &'static str,
    /// (uploader_id): deletes the user's files.
    pub delete_user_files: &'static str,
    /// (created_before): deletes the files never attached.
    pub expire_unattached: &'static str,
    /// (): deletes the files of messages at or below their room's horizon.
    pub expire_pruned: &'static str,
    /// (now, lease_until, limit) → [`Erasure`]s: claims due erasures, ones
    /// another sweeper is claiming skipped.
    pub claim_erasures: &'static str,
    /// (ids as a JSON array): releases the quota the erasures hold.
    pub release_erased: &'static str,
    /// (ids as a JSON array): deletes the erasures.
    pub delete_erased: &'static str,
    /// (user_id) → (file_bytes).
    pub file_bytes: &'static str,
}

/// Implements [`FileStore`] for `$store` from `$sql`, timestamps stored as
/// `$time`. Every write is one write transaction.
macro_rules! impl_files {
    (store: $store:ident, time: $time:ident, sql: $sql:ident $(,)?) => {
        mod files_impl {
            use async_trait::async_trait;

            use super::$time as Stored;
            use super::{$sql, $store};
            use $crate::store::files::{Erasure, FileRow, FileStore, NewFile, StoredFile};
            use $crate::store::{Backend, StoreResult, Timestamp};

            #[async_trait]
            impl FileStore for $store {
                async fn reserve_upload(
                    &self,
                    file_id: &str,
                    user_id: i64,
                    bytes: i64,
                    quota: i64,
                    abandon_at: Timestamp,
                ) -> StoreResult<bool> {
                    // The update locks the user's row (Postgres) or runs
                    // under the write lock (SQLite): concurrent reservations
                    // each see the total the others left.
                    let mut tx = self.begin_write().await?;
                    let reserved = sqlx::query($sql.reserve_quota)
                        .bind(user_id)
                        .bind(bytes)
                        .bind(quota)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        == 1;
                    if !reserved {
                        return Ok(false); // rolled back
                    }
                    sqlx::query($sql.queue_erasure)
                        .bind(file_id)
                        .bind(user_id)
                        .bind(bytes)
                        .bind(Stored::from(abandon_at))
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn finish_upload(
                    &self,
                    file: &NewFile,
                    reserved: i64,
                ) -> StoreResult<Option<StoredFile>> {
                    let now = Stored::from(chrono::Utc::now());
                    let mut tx = self.begin_write().await?;
                    let taken = sqlx::query($sql.take_erasure)
                        .bind(&file.id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if taken == 0 {
                        return Ok(None);
                    }
                    sqlx::query($sql.release_bytes)
                        .bind(file.uploader_id)
                        .bind(reserved - file.size)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query($sql.insert_file)
                        .bind(&file.id)
                        .bind(file.room_id)
                        .bind(file.uploader_id)
                        .bind(&file.name)
                        .bind(&file.content_type)
                        .bind(file.size)
                        .bind(&file.sha256)
                        .bind(file.image.map(|(w, _)| i64::from(w)))
                        .bind(file.image.map(|(_, h)| i64::from(h)))
                        .bind(file.thumbnail)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    let row: FileRow<Stored> = sqlx::query_as($sql.file)
                        .bind(&file.id)
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(Some(row.into()))
                }

                async fn abandon_upload(
                    &self,
                    file_id: &str,
                    objects_removed: bool,
                ) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    if objects_removed {
                        for sql in [$sql.release_file_erasures, $sql.delete_file_erasures] {
                            sqlx::query(sql).bind(file_id).execute(&mut *tx).await?;
                        }
                    } else {
                        sqlx::query($sql.due_file_erasures)
                            .bind(file_id)
                            .bind(Stored::from(chrono::Utc::now()))
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn file(&self, file_id: &str) -> StoreResult<Option<StoredFile>> {
                    let row: Option<FileRow<Stored>> = sqlx::query_as($sql.file)
                        .bind(file_id)
                        .fetch_optional(&self.pool)
                        .await?;
                    Ok(row.map(Into::into))
                }

                async fn erase_user_files(&self, user_id: i64) -> StoreResult<u64> {
                    let mut tx = self.begin_write().await?;
                    let n = sqlx::query($sql.delete_user_files)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    tx.commit().await?;
                    Ok(n)
                }

                async fn expire_files(&self, unattached_before: Timestamp) -> StoreResult<u64> {
                    let mut tx = self.begin_write().await?;
                    let unattached = sqlx::query($sql.expire_unattached)
                        .bind(Stored::from(unattached_before))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    let pruned = sqlx::query($sql.expire_pruned)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    tx.commit().await?;
                    Ok(unattached + pruned)
                }

                async fn claim_erasures(
                    &self,
                    now: Timestamp,
                    lease_until: Timestamp,
                    limit: i64,
                ) -> StoreResult<Vec<Erasure>> {
                    let mut tx = self.begin_write().await?;
                    let claimed = sqlx::query_as($sql.claim_erasures)
                        .bind(Stored::from(now))
                        .bind(Stored::from(lease_until))
                        .bind(limit)
                        .fetch_all(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(claimed)
                }

                async fn finish_erasures(&self, ids: &[i64]) -> StoreResult<()> {
                    let ids = serde_json::to_string(ids).expect("ids serialise");
                    let mut tx = self.begin_write().await?;
                    for sql in [$sql.release_erased, $sql.delete_erased] {
                        sqlx::query(sql).bind(&ids).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn file_bytes(&self, user_id: i64) -> StoreResult<i64> {
                    Ok(sqlx::query_scalar($sql.file_bytes)
                        .bind(user_id)
                        .fetch_optional(&self.pool)
                        .await?
                        .unwrap_or(0))
                }
            }
        }
    };
}
pub(super) use impl_files;
