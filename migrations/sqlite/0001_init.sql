-- Parley schema for SQLite. Timestamps are INTEGER Unix epoch milliseconds
-- (UTC): exact round trips, and comparisons that are plain integer ones.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    -- NOCASE: unique in any (ASCII) letter case, and `username = ?` lookups
    -- are case-insensitive through the same index.
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE rooms (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    private    INTEGER NOT NULL DEFAULT 0 CHECK (private IN (0, 1)),
    owner_id   INTEGER NOT NULL REFERENCES users (id),
    -- Highest seq handed out in this room, bumped inside the (serialised)
    -- write transaction that stores the messages.
    last_seq   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE memberships (
    room_id   INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX memberships_user_id_idx ON memberships (user_id);

CREATE TABLE messages (
    -- AUTOINCREMENT: message ids are public and must never be reused.
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id    INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    sender_id  INTEGER NOT NULL REFERENCES users (id),
    body       TEXT NOT NULL,
    client_id  TEXT,
    created_at INTEGER NOT NULL,
    -- Also the index behind every history query.
    UNIQUE (room_id, seq),
    -- Idempotency key; NULL client_ids never collide.
    UNIQUE (room_id, sender_id, client_id)
) STRICT;

CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Every token descended from one login shares its family.
    family     TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER,
    revoked_at INTEGER,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);
