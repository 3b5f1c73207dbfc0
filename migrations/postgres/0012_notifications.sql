-- Notification levels and Web Push (README, "Notifications").

-- Each member's level in the room: NULL is the default (`all` in a direct
-- conversation, `mentions` elsewhere). `muted_until` in the future silences
-- the room whatever the level.
ALTER TABLE memberships
    ADD COLUMN notify_level TEXT CHECK (notify_level IN ('all', 'mentions', 'none')),
    ADD COLUMN muted_until TIMESTAMPTZ;
-- The members a message notifies for its room alone: only those who asked
-- for `all` (the default elsewhere is `mentions`), read without a scan.
CREATE INDEX memberships_notify_all_idx ON memberships (room_id) WHERE notify_level = 'all';

-- A browser's PushSubscription (RFC 8030 endpoint, RFC 8291 keys).
CREATE TABLE push_subscriptions (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint        TEXT NOT NULL,
    p256dh          TEXT NOT NULL,
    auth            TEXT NOT NULL,
    expiration_time BIGINT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT date_trunc('milliseconds', now()),
    UNIQUE (user_id, endpoint)
);

-- The durable outbox: one row per (subscription, due event), written in the
-- transaction that stores the event, deleted once the push service answered.
-- `not_before` is both the lease of the instance that claimed the row and
-- the time of its next retry (docs/ARCHITECTURE.md, "The push outbox").
CREATE TABLE push_outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id BIGINT NOT NULL REFERENCES push_subscriptions (id) ON DELETE CASCADE,
    room_id         BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    reason          TEXT NOT NULL CHECK (reason IN ('dm', 'mention', 'thread', 'room')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    not_before      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX push_outbox_not_before_idx ON push_outbox (not_before);
CREATE INDEX push_outbox_subscription_idx ON push_outbox (subscription_id);
