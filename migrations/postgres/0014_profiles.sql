-- Profiles and account deletion (README, "Accounts").

-- What a user shows of themself. The rules (1–64 / up to 140 characters,
-- no control characters) are checked by the server; the CHECKs keep a
-- wrong write from storing more.
ALTER TABLE users
    ADD COLUMN display_name TEXT
        CHECK (display_name IS NULL OR char_length(display_name) BETWEEN 1 AND 64),
    ADD COLUMN status TEXT CHECK (status IS NULL OR char_length(status) <= 140),
    -- The avatar's object in the files storage (NULL: none).
    ADD COLUMN avatar_key TEXT,
    -- A deleted account keeps its row (its name stays reserved) but can no
    -- longer sign in; `erased_at` is set once its messages and memberships
    -- are gone (an erasure interrupted by a restart is resumed until then).
    ADD COLUMN deleted_at TIMESTAMPTZ,
    ADD COLUMN erased_at TIMESTAMPTZ;

CREATE INDEX users_erasure_pending_idx ON users (id)
    WHERE deleted_at IS NOT NULL AND erased_at IS NULL;

-- A user's messages that still exist, in id order: the export and the
-- erasure page through them.
CREATE INDEX messages_sender_idx ON messages (sender_id, id)
    WHERE kind = 'message' AND NOT deleted;
