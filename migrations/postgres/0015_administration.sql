-- Administration (README, "Administration"): deactivated accounts, reports
-- of messages, and the audit log.

-- Set while an administrator has deactivated the account: login, refresh
-- and its bots are refused.
ALTER TABLE users ADD COLUMN deactivated_at TIMESTAMPTZ;

-- One report per user and message; resolved once, by a moderator of the
-- room or an administrator.
CREATE TABLE reports (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room_id     BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    reporter_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT date_trunc('milliseconds', now()),
    resolved_at TIMESTAMPTZ,
    resolved_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    action      TEXT CHECK (action IN ('dismissed', 'deleted')),
    UNIQUE (room_id, seq, reporter_id),
    CHECK ((resolved_at IS NULL) = (action IS NULL))
);
CREATE INDEX reports_queue_idx ON reports ((resolved_at IS NOT NULL), id DESC);
CREATE INDEX reports_room_idx ON reports (room_id, (resolved_at IS NOT NULL), id DESC);

-- Every moderation and administration action, written in the transaction
-- of the action itself. No foreign keys: an entry outlives its room (the
-- room's name is kept) and is never changed.
CREATE TABLE audit_log (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        TIMESTAMPTZ NOT NULL DEFAULT date_trunc('milliseconds', now()),
    actor_id  BIGINT,
    action    TEXT NOT NULL,
    room_id   BIGINT,
    room      TEXT,
    target_id BIGINT,
    detail    TEXT
);
CREATE INDEX audit_log_room_idx ON audit_log (room_id, id DESC) WHERE room_id IS NOT NULL;

CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
