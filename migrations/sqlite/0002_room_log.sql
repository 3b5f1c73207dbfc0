-- The room log (README, "The room log"): every row of `messages` is an event
-- with the room's gapless seq. A `message` row holds the message's current
-- state (its latest text and mentions, `edited_at`, `deleted`); `edit`,
-- `delete` and `reaction` rows point at the message they change by
-- `target_seq`. Reactions currently on a message live in `reactions`.

ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'message'
    CHECK (kind IN ('message', 'edit', 'delete', 'reaction'));
-- message: the seq of the message it replies to.
ALTER TABLE messages ADD COLUMN reply_to INTEGER;
-- edit, delete, reaction: the seq of the message they change.
ALTER TABLE messages ADD COLUMN target_seq INTEGER
    CHECK ((kind = 'message') = (target_seq IS NULL));
-- message, edit: JSON array of the canonical usernames mentioned.
ALTER TABLE messages ADD COLUMN mentions TEXT NOT NULL DEFAULT '[]';
-- reaction: the key, and whether it was added or removed.
ALTER TABLE messages ADD COLUMN reaction_key TEXT
    CHECK ((kind = 'reaction') = (reaction_key IS NOT NULL));
ALTER TABLE messages ADD COLUMN added INTEGER
    CHECK ((kind = 'reaction') = (added IS NOT NULL) AND (added IS NULL OR added IN (0, 1)));
-- message: when it was last edited; deleted (its text is erased).
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1));

-- The events that change a message (a deletion erases the text of its edits).
CREATE INDEX messages_target_idx ON messages (room_id, target_seq)
    WHERE target_seq IS NOT NULL;

-- The reactions a message has now: one row per user and key, with the seq of
-- the event that added it (users are listed in that order, keys in the order
-- of their first use). A history page reads them through the primary key.
CREATE TABLE reactions (
    room_id      INTEGER NOT NULL,
    target_seq   INTEGER NOT NULL,
    reaction_key TEXT NOT NULL,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    PRIMARY KEY (room_id, target_seq, reaction_key, user_id),
    FOREIGN KEY (room_id, target_seq) REFERENCES messages (room_id, seq) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
