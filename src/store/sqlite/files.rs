//! [`FileStore`] on SQLite (the rules are `store/files.rs`'s). Every write
//! runs in one `BEGIN IMMEDIATE` transaction: no other writer, in this
//! process or another, comes in between its statements.

use async_trait::async_trait;

use super::{Millis, SqliteStore, now};
use crate::store::files::{Erasure, FileRow, FileStore, NewFile, StoredFile, select_files};
use crate::store::{Backend, StoreResult, Timestamp};

#[async_trait]
impl FileStore for SqliteStore {
    async fn reserve_upload(
        &self,
        file_id: &str,
        user_id: i64,
        bytes: i64,
        quota: i64,
        abandon_at: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let reserved = sqlx::query(
            "UPDATE users SET file_bytes = file_bytes + ?2 \
             WHERE id = ?1 AND file_bytes + ?2 <= ?3",
        )
        .bind(user_id)
        .bind(bytes)
        .bind(quota)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if reserved {
            sqlx::query(
                "INSERT INTO file_erasures (file_id, user_id, release_bytes, due_at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .bind(file_id)
            .bind(user_id)
            .bind(bytes)
            .bind(Millis::from(abandon_at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(reserved)
    }

    async fn finish_upload(
        &self,
        file: &NewFile,
        reserved: i64,
    ) -> StoreResult<Option<StoredFile>> {
        let mut tx = self.begin_write().await?;
        let at = now();
        let taken = sqlx::query("DELETE FROM file_erasures WHERE file_id = ?1 AND due_at > ?2")
            .bind(&file.id)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if taken == 0 {
            return Ok(None);
        }
        sqlx::query("UPDATE users SET file_bytes = max(0, file_bytes - ?2) WHERE id = ?1")
            .bind(file.uploader_id)
            .bind(reserved - file.size)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO files (id, room_id, uploader_id, name, content_type, size, sha256, \
                                width, height, thumbnail, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
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
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let row: FileRow<Millis> = sqlx::query_as(select_files!("WHERE f.id = ?1"))
            .bind(&file.id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(row.into()))
    }

    async fn abandon_upload(&self, file_id: &str, objects_removed: bool) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        if objects_removed {
            sqlx::query(
                "UPDATE users SET file_bytes = max(0, file_bytes - \
                   (SELECT coalesce(sum(release_bytes), 0) FROM file_erasures e \
                    WHERE e.file_id = ?1 AND e.user_id = users.id)) \
                 WHERE id IN (SELECT user_id FROM file_erasures WHERE file_id = ?1)",
            )
            .bind(file_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM file_erasures WHERE file_id = ?1")
                .bind(file_id)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("UPDATE file_erasures SET due_at = ?2 WHERE file_id = ?1")
                .bind(file_id)
                .bind(now())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn file(&self, file_id: &str) -> StoreResult<Option<StoredFile>> {
        let row: Option<FileRow<Millis>> = sqlx::query_as(select_files!("WHERE f.id = ?1"))
            .bind(file_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Into::into))
    }

    async fn erase_user_files(&self, user_id: i64) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM files WHERE uploader_id = ?1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    async fn expire_files(&self, unattached_before: Timestamp) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let unattached =
            sqlx::query("DELETE FROM files WHERE message_seq IS NULL AND created_at < ?1")
                .bind(Millis::from(unattached_before))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let pruned = sqlx::query(
            "DELETE FROM files WHERE message_seq IS NOT NULL \
               AND message_seq <= (SELECT r.horizon_seq FROM rooms r WHERE r.id = files.room_id)",
        )
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
        let claimed = sqlx::query_as(
            "UPDATE file_erasures SET due_at = ?2 \
             WHERE id IN (SELECT id FROM file_erasures WHERE due_at <= ?1 \
                          ORDER BY due_at LIMIT ?3) \
             RETURNING id, file_id",
        )
        .bind(Millis::from(now))
        .bind(Millis::from(lease_until))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(claimed)
    }

    async fn finish_erasures(&self, ids: &[i64]) -> StoreResult<()> {
        let ids = serde_json::to_string(ids).expect("ids serialise");
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE users SET file_bytes = max(0, file_bytes - \
               (SELECT coalesce(sum(release_bytes), 0) FROM file_erasures e \
                WHERE e.user_id = users.id AND e.id IN (SELECT value FROM json_each(?1)))) \
             WHERE id IN (SELECT user_id FROM file_erasures \
                          WHERE id IN (SELECT value FROM json_each(?1)))",
        )
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM file_erasures WHERE id IN (SELECT value FROM json_each(?1))")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn file_bytes(&self, user_id: i64) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT file_bytes FROM users WHERE id = ?1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or(0),
        )
    }
}
