//! SQLite's SQL for files (`store/files.rs` has the rules). Every write
//! runs in one `BEGIN IMMEDIATE` transaction: no other writer, in this
//! process or another, comes in between its statements.

use super::{Millis, SqliteStore};
use crate::store::files::{FileQueries, impl_files, select_files};

const FILE_SQL: FileQueries = FileQueries {
    reserve_quota: "UPDATE users SET file_bytes = file_bytes + ?2 \
                    WHERE id = ?1 AND file_bytes + ?2 <= ?3",
    queue_erasure: "INSERT INTO file_erasures (file_id, user_id, release_bytes, due_at) \
                    VALUES (?1, ?2, ?3, ?4)",
    take_erasure: "DELETE FROM file_erasures WHERE file_id = ?1 AND due_at > ?2",
    release_bytes: "UPDATE users SET file_bytes = max(0, file_bytes - ?2) WHERE id = ?1",
    insert_file: "INSERT INTO files (id, room_id, uploader_id, name, content_type, size, sha256, \
                                     width, height, thumbnail, created_at) \
                  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    file: select_files!("WHERE f.id = ?1"),
    release_file_erasures: "UPDATE users SET file_bytes = max(0, file_bytes - \
                              (SELECT coalesce(sum(e.release_bytes), 0) FROM file_erasures e \
                               WHERE e.file_id = ?1 AND e.user_id = users.id)) \
                            WHERE id IN (SELECT user_id FROM file_erasures WHERE file_id = ?1)",
    delete_file_erasures: "DELETE FROM file_erasures WHERE file_id = ?1",
    due_file_erasures: "UPDATE file_erasures SET due_at = ?2 WHERE file_id = ?1",
    delete_user_files: "DELETE FROM files WHERE uploader_id = ?1",
    expire_unattached: "DELETE FROM files WHERE message_seq IS NULL AND created_at < ?1",
    expire_pruned: "DELETE FROM files WHERE message_seq IS NOT NULL \
                      AND message_seq <= (SELECT r.horizon_seq FROM rooms r \
                                          WHERE r.id = files.room_id)",
    claim_erasures: "UPDATE file_erasures SET due_at = ?2 \
                     WHERE id IN (SELECT id FROM file_erasures WHERE due_at <= ?1 \
                                  ORDER BY due_at LIMIT ?3) \
                     RETURNING id, file_id",
    release_erased: "UPDATE users SET file_bytes = max(0, file_bytes - \
                       (SELECT coalesce(sum(e.release_bytes), 0) FROM file_erasures e \
                        WHERE e.user_id = users.id \
                          AND e.id IN (SELECT value FROM json_each(?1)))) \
                     WHERE id IN (SELECT user_id FROM file_erasures \
                                  WHERE id IN (SELECT value FROM json_each(?1)))",
    delete_erased: "DELETE FROM file_erasures WHERE id IN (SELECT value FROM json_each(?1))",
    file_bytes: "SELECT file_bytes FROM users WHERE id = ?1",
};

impl_files!(store: SqliteStore, time: Millis, sql: FILE_SQL);
