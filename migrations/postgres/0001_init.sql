-- Parley schema for Postgres. Timestamps are truncated to milliseconds so a
-- value read back equals the one returned when it was written.

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT date_trunc('milliseconds', now())
);
-- Usernames are unique in any letter case; lookups go through lower(username).
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));

CREATE TABLE rooms (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    private    BOOLEAN NOT NULL DEFAULT FALSE,
    owner_id   BIGINT NOT NULL REFERENCES users (id),
    -- Highest seq handed out in this room. Writers bump it under the row
    -- lock, which serialises them and keeps seq gapless in commit order.
    last_seq   BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT date_trunc('milliseconds', now())
);

CREATE TABLE memberships (
    room_id   BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at TIMESTAMPTZ NOT NULL DEFAULT date_trunc('milliseconds', now()),
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX memberships_user_id_idx ON memberships (user_id);

CREATE TABLE messages (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room_id    BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    sender_id  BIGINT NOT NULL REFERENCES users (id),
    body       TEXT NOT NULL,
    client_id  TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT date_trunc('milliseconds', now()),
    -- Also the index behind every history query.
    UNIQUE (room_id, seq),
    -- Idempotency key; NULL client_ids never collide.
    UNIQUE (room_id, sender_id, client_id)
);

CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Every token descended from one login shares its family.
    family     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    rotated_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT date_trunc('milliseconds', now())
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);
