//! [`FileStore`] on Postgres (the rules are `store/files.rs`'s).

use async_trait::async_trait;

use super::PostgresStore;
use crate::store::files::{Erasure, FileRow, FileStore, NewFile, StoredFile, select_files};
use crate::store::{StoreResult, Timestamp};

#[async_trait]
impl FileStore for PostgresStore {
    async fn reserve_upload(
        &self,
        file_id: &str,
        user_id: i64,
        bytes: i64,
        quota: i64,
        abandon_at: Timestamp,
    ) -> StoreResult<bool> {
        // One statement: the row lock on the user serialises concurrent
        // reservations, each checked against the total the others left.
        let reserved: Option<(i64,)> = sqlx::query_as(
            "WITH reserved AS (UPDATE users SET file_bytes = file_bytes + $3 \
                               WHERE id = $2 AND file_bytes + $3 <= $4 RETURNING id), \
                  queued AS (INSERT INTO file_erasures (file_id, user_id, release_bytes, due_at) \
                             SELECT $1, id, $3, $5 FROM reserved) \
             SELECT id FROM reserved",
        )
        .bind(file_id)
        .bind(user_id)
        .bind(bytes)
        .bind(quota)
        .bind(abandon_at)
        .fetch_optional(&self.pool)
        .await?;
        Ok(reserved.is_some())
    }

    async fn finish_upload(
        &self,
        file: &NewFile,
        reserved: i64,
    ) -> StoreResult<Option<StoredFile>> {
        let mut tx = self.pool.begin().await?;
        let taken = sqlx::query("DELETE FROM file_erasures WHERE file_id = $1 AND due_at > now()")
            .bind(&file.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if taken == 0 {
            return Ok(None);
        }
        sqlx::query("UPDATE users SET file_bytes = GREATEST(0, file_bytes - $2) WHERE id = $1")
            .bind(file.uploader_id)
            .bind(reserved - file.size)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO files (id, room_id, uploader_id, name, content_type, size, sha256, \
                                width, height, thumbnail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
        .execute(&mut *tx)
        .await?;
        let row: FileRow<Timestamp> = sqlx::query_as(select_files!("WHERE f.id = $1"))
            .bind(&file.id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(row.into()))
    }

    async fn abandon_upload(&self, file_id: &str, objects_removed: bool) -> StoreResult<()> {
        if objects_removed {
            sqlx::query(
                "WITH gone AS (DELETE FROM file_erasures WHERE file_id = $1 \
                               RETURNING user_id, release_bytes) \
                 UPDATE users u SET file_bytes = GREATEST(0, u.file_bytes - g.release_bytes) \
                 FROM gone g WHERE u.id = g.user_id",
            )
            .bind(file_id)
            .execute(&self.pool)
            .await?;
        } else {
            sqlx::query("UPDATE file_erasures SET due_at = now() WHERE file_id = $1")
                .bind(file_id)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    async fn file(&self, file_id: &str) -> StoreResult<Option<StoredFile>> {
        let row: Option<FileRow<Timestamp>> = sqlx::query_as(select_files!("WHERE f.id = $1"))
            .bind(file_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Into::into))
    }

    async fn erase_user_files(&self, user_id: i64) -> StoreResult<u64> {
        Ok(sqlx::query("DELETE FROM files WHERE uploader_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    async fn expire_files(&self, unattached_before: Timestamp) -> StoreResult<u64> {
        let unattached =
            sqlx::query("DELETE FROM files WHERE message_seq IS NULL AND created_at < $1")
                .bind(unattached_before)
                .execute(&self.pool)
                .await?
                .rows_affected();
        let pruned = sqlx::query(
            "DELETE FROM files f USING rooms r \
             WHERE f.room_id = r.id AND f.message_seq IS NOT NULL \
               AND f.message_seq <= r.horizon_seq",
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(unattached + pruned)
    }

    async fn claim_erasures(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<Erasure>> {
        Ok(sqlx::query_as(
            "UPDATE file_erasures SET due_at = $2 \
             WHERE id IN (SELECT id FROM file_erasures WHERE due_at <= $1 \
                          ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING id, file_id",
        )
        .bind(now)
        .bind(lease_until)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn finish_erasures(&self, ids: &[i64]) -> StoreResult<()> {
        sqlx::query(
            "WITH gone AS (DELETE FROM file_erasures WHERE id = ANY($1) \
                           RETURNING user_id, release_bytes), \
                  total AS (SELECT user_id, sum(release_bytes)::int8 AS bytes \
                            FROM gone GROUP BY user_id) \
             UPDATE users u SET file_bytes = GREATEST(0, u.file_bytes - t.bytes) \
             FROM total t WHERE u.id = t.user_id",
        )
        .bind(ids)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn file_bytes(&self, user_id: i64) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT file_bytes FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or(0),
        )
    }
}
