-- Administration (README, "Administration"): deactivated accounts, reports
-- of messages, and the audit log. Timestamps are epoch milliseconds.

-- Set while an administrator has deactivated the account: login, refresh
-- and its bots are refused.
ALTER TABLE users ADD COLUMN deactivated_at INTEGER;

-- One report per user and message; resolved once, by a moderator of the
-- room or an administrator.
CREATE TABLE reports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id     INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    reporter_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    resolved_at INTEGER,
    resolved_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    action      TEXT CHECK (action IN ('dismissed', 'deleted')),
    UNIQUE (room_id, seq, reporter_id),
    CHECK ((resolved_at IS NULL) = (action IS NULL))
) STRICT;
CREATE INDEX reports_queue_idx ON reports ((resolved_at IS NOT NULL), id DESC);
CREATE INDEX reports_room_idx ON reports (room_id, (resolved_at IS NOT NULL), id DESC);

-- Every moderation and administration action, written in the transaction
-- of the action itself. No foreign keys: an entry outlives its room (the
-- room's name is kept) and is never changed.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    actor_id  INTEGER,
    action    TEXT NOT NULL,
    room_id   INTEGER,
    room      TEXT,
    target_id INTEGER,
    detail    TEXT
) STRICT;
CREATE INDEX audit_log_room_idx ON audit_log (room_id, id DESC) WHERE room_id IS NOT NULL;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
