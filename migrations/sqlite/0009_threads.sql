-- Threads (README, "Threads"): a reply belongs to the thread of the message
-- it replies to, decided once when the reply is stored, under the write lock
-- (`store/plan.rs`): `messages.thread_root` is the seq of the thread's root
-- (the root's own is NULL, as is that of a message outside any thread).
ALTER TABLE messages ADD COLUMN thread_root INTEGER
    CHECK (thread_root IS NULL OR (kind = 'message' AND reply_to IS NOT NULL AND thread_root < seq));

-- A thread's replies in seq order (the thread page) and its unread range.
CREATE INDEX messages_thread_idx ON messages (room_id, thread_root, seq, deleted, sender_id)
    WHERE thread_root IS NOT NULL;

-- One row per thread, kept current by the transaction that stores a reply
-- or deletes one, so a root's summary never needs its thread read:
-- `reply_count` counts the replies not deleted; `last_reply_seq` and
-- `last_reply_at` are the latest reply's (deleted or not: the thread's last
-- activity, never moving back); `participants` is a JSON array of the first
-- repliers' usernames (at most `plan::PARTICIPANTS_SHOWN`), in order of
-- their first reply. Pruning or deleting the root (or its room) cascades.
CREATE TABLE threads (
    room_id        INTEGER NOT NULL,
    root_seq       INTEGER NOT NULL,
    reply_count    INTEGER NOT NULL CHECK (reply_count >= 0),
    last_reply_seq INTEGER NOT NULL CHECK (last_reply_seq > root_seq),
    last_reply_at  INTEGER NOT NULL,
    participants   TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (room_id, root_seq),
    FOREIGN KEY (room_id, root_seq) REFERENCES messages (room_id, seq) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
-- A room's threads by latest reply (`GET /rooms/{name}/threads`).
CREATE INDEX threads_room_latest_idx ON threads (room_id, last_reply_seq);

-- Who follows which thread, with their thread read marker (a room seq: the
-- replies after it are unread). Written with the events that make someone
-- follow (the root's sender and the users it mentions when the first reply
-- is stored, every replier, everyone a reply mentions), in their
-- transaction; `PUT`/`DELETE …/follow` change it directly.
CREATE TABLE thread_follows (
    room_id       INTEGER NOT NULL,
    root_seq      INTEGER NOT NULL,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_read_seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, root_seq, user_id),
    FOREIGN KEY (room_id, root_seq) REFERENCES threads (room_id, root_seq) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
-- A user's followed threads (`GET /me/threads`).
CREATE INDEX thread_follows_user_idx ON thread_follows (user_id, room_id, root_seq);

-- The replies stored before threads existed: each takes the root of the
-- chain of replies it ends (a reply to a message pruned by retention takes
-- that message's seq), their summaries are built, and their roots' senders
-- and repliers follow them, with nothing unread.
WITH RECURSIVE chain (room_id, seq, root) AS (
    SELECT m.room_id, m.seq, m.reply_to
    FROM messages m
    WHERE m.kind = 'message' AND m.reply_to IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM messages p
                      WHERE p.room_id = m.room_id AND p.seq = m.reply_to
                        AND p.kind = 'message' AND p.reply_to IS NOT NULL)
    UNION ALL
    SELECT m.room_id, m.seq, c.root
    FROM chain c
    JOIN messages m ON m.room_id = c.room_id AND m.reply_to = c.seq AND m.kind = 'message'
)
UPDATE messages SET thread_root = (SELECT c.root FROM chain c
                                   WHERE c.room_id = messages.room_id AND c.seq = messages.seq)
WHERE kind = 'message' AND reply_to IS NOT NULL;

-- Roots pruned by retention have no row to refer to: their replies keep
-- `thread_root`, and no summary is built for them.
INSERT INTO threads (room_id, root_seq, reply_count, last_reply_seq, last_reply_at, participants)
SELECT m.room_id, m.thread_root,
       sum(m.deleted = 0),
       max(m.seq),
       max(m.created_at),
       (SELECT json_group_array(p.username)
        FROM (SELECT u.username, min(r.seq) AS first
              FROM messages r JOIN users u ON u.id = r.sender_id
              WHERE r.room_id = m.room_id AND r.thread_root = m.thread_root
              GROUP BY u.username ORDER BY min(r.seq) LIMIT 10) p)
FROM messages m
WHERE m.thread_root IS NOT NULL
  AND EXISTS (SELECT 1 FROM messages root
              WHERE root.room_id = m.room_id AND root.seq = m.thread_root)
GROUP BY m.room_id, m.thread_root;

INSERT OR IGNORE INTO thread_follows (room_id, root_seq, user_id, last_read_seq)
SELECT t.room_id, t.root_seq, r.sender_id, t.last_reply_seq
FROM threads t JOIN messages r ON r.room_id = t.room_id AND r.seq = t.root_seq;
INSERT OR IGNORE INTO thread_follows (room_id, root_seq, user_id, last_read_seq)
SELECT t.room_id, t.root_seq, r.sender_id, t.last_reply_seq
FROM threads t JOIN messages r ON r.room_id = t.room_id AND r.thread_root = t.root_seq;
