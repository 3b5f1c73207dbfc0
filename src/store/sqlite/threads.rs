//! [`crate::store::ThreadStore`] on SQLite: its SQL (README, "Threads").

use super::{Millis, SqliteStore, reactions_json};
use crate::store::rows::select_events;
use crate::store::threads::{ThreadQueries, impl_threads};

// A room's threads: `threads_room_latest_idx` backwards, each root through
// `(room_id, seq)`; replies and unread ranges: `messages_thread_idx`.
const THREADS_SQL: ThreadQueries = ThreadQueries {
    room_threads: select_events!(
        reactions_json,
        "WHERE m.room_id = ?1 AND th.reply_count > 0 AND th.last_reply_seq < ?3 \
           AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = ?2 \
                                                   AND b.blocked_id = m.sender_id) \
         ORDER BY th.last_reply_seq DESC LIMIT ?4"
    ),
    replies: select_events!(
        reactions_json,
        "WHERE m.room_id = ?1 AND m.thread_root = ?2 AND m.seq > ?3 ORDER BY m.seq LIMIT ?4"
    ),
    following: "SELECT last_read_seq FROM thread_follows \
                WHERE room_id = ?1 AND root_seq = ?2 AND user_id = ?3",
    follow: "INSERT INTO thread_follows (room_id, root_seq, user_id, last_read_seq) \
             SELECT room_id, root_seq, ?3, last_reply_seq FROM threads \
             WHERE room_id = ?1 AND root_seq = ?2 \
             ON CONFLICT (room_id, root_seq, user_id) \
             DO UPDATE SET last_read_seq = thread_follows.last_read_seq \
             RETURNING root_seq",
    unfollow: "DELETE FROM thread_follows WHERE room_id = ?1 AND root_seq = ?2 AND user_id = ?3",
    followed: select_events!(
        unread reactions_json,
        "(SELECT count(*) FROM messages x \
          WHERE x.room_id = f.room_id AND x.thread_root = f.root_seq \
            AND x.seq > f.last_read_seq AND x.deleted = 0 AND x.sender_id <> ?1 \
            AND x.sender_id NOT IN (SELECT blocked_id FROM blocks WHERE blocker_id = ?1)) AS unread, ",
        "JOIN thread_follows f ON f.room_id = m.room_id AND f.root_seq = m.seq \
         WHERE f.user_id = ?1 AND th.reply_count > 0 AND (?3 OR unread > 0) \
           AND EXISTS (SELECT 1 FROM memberships ms \
                       WHERE ms.room_id = f.room_id AND ms.user_id = ?1) \
           AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = ?1 \
                                                   AND b.blocked_id = m.sender_id) \
         ORDER BY th.last_reply_at DESC, m.id DESC LIMIT ?2"
    ),
    move_marker: "UPDATE thread_follows \
                  SET last_read_seq = max(last_read_seq, min(?4, \
                      (SELECT last_reply_seq FROM threads WHERE room_id = ?1 AND root_seq = ?2))) \
                  WHERE room_id = ?1 AND root_seq = ?2 AND user_id = ?3 \
                  RETURNING last_read_seq",
};

impl_threads!(store: SqliteStore, time: Millis, sql: THREADS_SQL);
