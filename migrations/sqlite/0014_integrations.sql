-- Bots and webhooks (README, "Bots and webhooks").

-- What an account is: a person (signs in with a password), a bot (owned by
-- `owner_id`, signs in only with its API token) or the sender of a room's
-- webhooks (`webhook:NAME`, never signs in). Only people log in with a
-- password: the credentials lookup reads `kind = 'person'` rows only.
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'person'
    CHECK (kind IN ('person', 'bot', 'webhook'));
-- A bot's owner; NULL once the bot is deleted (the name stays reserved).
ALTER TABLE users ADD COLUMN owner_id INTEGER REFERENCES users (id);
CREATE INDEX users_owner_id_idx ON users (owner_id) WHERE owner_id IS NOT NULL;

-- A bot's API token, only its SHA-256 (the token has 256 random bits); the
-- unique index is the lookup of every request that presents one.
CREATE TABLE bot_tokens (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token_hash BLOB NOT NULL UNIQUE,
    -- The login (README, "Accounts") the token's sessions belong to, so that
    -- ending it ends them everywhere; NULL until it is made (never shown).
    login_id   INTEGER,
    created_at INTEGER NOT NULL
) STRICT;

-- A room's integrations. `incoming`: a URL whose secret part is kept as its
-- SHA-256 (`secret_hash`); `outgoing`: the room's events POSTed to `url`,
-- signed with `signing_key` (kept as given: signing needs it), delivered
-- after `cursor_seq` by the instance holding the lease; `command`: messages
-- starting `/command` POSTed to `url`. `user_id` is the `webhook:NAME`
-- account its messages are stored under.
CREATE TABLE webhooks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id       INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('incoming', 'outgoing', 'command')),
    name          TEXT NOT NULL,
    user_id       INTEGER REFERENCES users (id),
    secret_hash   BLOB,
    signing_key   BLOB,
    url           TEXT,
    events        TEXT,
    command       TEXT,
    created_by    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at    INTEGER NOT NULL,
    -- Outgoing: the last seq delivered (or given up on); the durable cursor.
    cursor_seq    INTEGER NOT NULL DEFAULT 0,
    -- Outgoing: which instance delivers, until when (epoch ms).
    lease_holder  TEXT,
    lease_until   INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX webhooks_room_id_idx ON webhooks (room_id, kind);
CREATE UNIQUE INDEX webhooks_command_key ON webhooks (room_id, command) WHERE kind = 'command';

-- Each outgoing delivery attempt's outcome, newest read first.
CREATE TABLE webhook_deliveries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('delivered', 'failed')),
    code       INTEGER,
    at         INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id);
