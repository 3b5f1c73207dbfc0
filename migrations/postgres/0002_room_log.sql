-- The room log (README, "The room log"): every row of `messages` is an event
-- with the room's gapless seq. A `message` row holds the message's current
-- state (its latest text and mentions, `edited_at`, `deleted`); `edit`,
-- `delete` and `reaction` rows point at the message they change by
-- `target_seq`. Reactions currently on a message live in `reactions`.

ALTER TABLE messages
    ADD COLUMN kind TEXT NOT NULL DEFAULT 'message'
        CHECK (kind IN ('message', 'edit', 'delete', 'reaction')),
    -- message: the seq of the message it replies to.
    ADD COLUMN reply_to BIGINT,
    -- edit, delete, reaction: the seq of the message they change.
    ADD COLUMN target_seq BIGINT,
    -- message, edit: JSON array of the canonical usernames mentioned.
    ADD COLUMN mentions TEXT NOT NULL DEFAULT '[]',
    -- reaction: the key, and whether it was added or removed.
    ADD COLUMN reaction_key TEXT,
    ADD COLUMN added BOOLEAN,
    -- message: when it was last edited; deleted (its text is erased).
    ADD COLUMN edited_at TIMESTAMPTZ,
    ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT FALSE,
    ADD CONSTRAINT messages_event_shape CHECK (
        CASE kind
            WHEN 'message' THEN target_seq IS NULL AND reaction_key IS NULL AND added IS NULL
            WHEN 'reaction' THEN target_seq IS NOT NULL AND reaction_key IS NOT NULL
                                 AND added IS NOT NULL AND reply_to IS NULL
            ELSE target_seq IS NOT NULL AND reaction_key IS NULL AND added IS NULL
                 AND reply_to IS NULL
        END
    );

-- The events that change a message (a deletion erases the text of its edits).
CREATE INDEX messages_target_idx ON messages (room_id, target_seq)
    WHERE target_seq IS NOT NULL;

-- The reactions a message has now: one row per user and key, with the seq of
-- the event that added it (users are listed in that order, keys in the order
-- of their first use). A history page reads them through the primary key.
CREATE TABLE reactions (
    room_id      BIGINT NOT NULL,
    target_seq   BIGINT NOT NULL,
    reaction_key TEXT NOT NULL,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    PRIMARY KEY (room_id, target_seq, reaction_key, user_id),
    FOREIGN KEY (room_id, target_seq) REFERENCES messages (room_id, seq) ON DELETE CASCADE
);
