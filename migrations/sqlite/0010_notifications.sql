-- Notification levels and Web Push (README, "Notifications").

-- Each member's level in the room: NULL is the default (`all` in a direct
-- conversation, `mentions` elsewhere). `muted_until` (epoch milliseconds)
-- in the future silences the room whatever the level.
ALTER TABLE memberships ADD COLUMN notify_level TEXT
    CHECK (notify_level IN ('all', 'mentions', 'none'));
ALTER TABLE memberships ADD COLUMN muted_until INTEGER;
-- The members a message notifies for its room alone: only those who asked
-- for `all` (the default elsewhere is `mentions`), read without a scan.
CREATE INDEX memberships_notify_all_idx ON memberships (room_id) WHERE notify_level = 'all';

-- A browser's PushSubscription (RFC 8030 endpoint, RFC 8291 keys).
CREATE TABLE push_subscriptions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint        TEXT NOT NULL,
    p256dh          TEXT NOT NULL,
    auth            TEXT NOT NULL,
    expiration_time INTEGER,
    created_at      INTEGER NOT NULL,
    UNIQUE (user_id, endpoint)
) STRICT;

-- The durable outbox: one row per (subscription, due event), written in the
-- transaction that stores the event, deleted once the push service answered.
-- `not_before` is both the lease of the claim and the time of the next retry.
CREATE TABLE push_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id INTEGER NOT NULL REFERENCES push_subscriptions (id) ON DELETE CASCADE,
    room_id         INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    reason          TEXT NOT NULL CHECK (reason IN ('dm', 'mention', 'thread', 'room')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    not_before      INTEGER NOT NULL
) STRICT;
CREATE INDEX push_outbox_not_before_idx ON push_outbox (not_before);
CREATE INDEX push_outbox_subscription_idx ON push_outbox (subscription_id);
