-- Accounts (README, "Accounts"): logins (the sessions a user can list and
-- end), an email address and its codes, password-reset tokens, and
-- two-factor authentication. Secrets are stored only as hashes (codes,
-- tokens) or encrypted (the TOTP secret): docs/SECURITY.md.

-- One row per signup or login. Its refresh tokens share `family`; access
-- tokens name its id (the `sid` claim). Ended (signed out, password
-- changed, …) when `ended_at` is set: its tokens are revoked then.
CREATE TABLE logins (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family       TEXT NOT NULL UNIQUE,
    user_agent   TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ NOT NULL,
    ended_at     TIMESTAMPTZ
);
CREATE INDEX logins_user_id_idx ON logins (user_id);
-- Read after a relay outage: the logins ended within an access token's life.
CREATE INDEX logins_ended_at_idx ON logins (ended_at) WHERE ended_at IS NOT NULL;

-- The logins that existed before this migration, one per refresh-token family.
INSERT INTO logins (user_id, family, created_at, last_used_at)
SELECT user_id, family, min(created_at), max(created_at)
FROM refresh_tokens
GROUP BY user_id, family;

-- The address last given (PUT /me/email) and whether its code was
-- confirmed. A verified address belongs to one account.
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;
CREATE UNIQUE INDEX users_verified_email_key ON users (lower(email)) WHERE email_verified;

-- Two-factor: the secret encrypted with a key derived from the server
-- secret; enabled once a first code confirmed it; the last time step a code
-- was accepted for (a code is good once).
ALTER TABLE users ADD COLUMN totp_secret BYTEA;
ALTER TABLE users ADD COLUMN totp_enabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;

CREATE TABLE recovery_codes (
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BYTEA NOT NULL,
    used_at   TIMESTAMPTZ,
    PRIMARY KEY (user_id, code_hash)
);

-- Mailed secrets: an email code (`kind` 'email', for `email`) or a
-- password-reset token ('reset'), each single-use and short-lived. Rows
-- also count the mails sent to an account per hour.
CREATE TABLE account_tokens (
    token_hash BYTEA PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('email', 'reset')),
    email      TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX account_tokens_user_id_idx ON account_tokens (user_id, kind, created_at);
