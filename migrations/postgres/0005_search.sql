-- Search and mentions (README, "Search and mentions").

-- Substring search in any script: a trigram index on the current text of
-- the messages that can match (not deleted; edit, delete and reaction rows
-- never match). The text is lowered with the ICU root locale, so letter
-- case folds for every script whatever the database's own locale; pg_trgm
-- takes its word characters from the database's LC_CTYPE, which must be a
-- UTF-8 one (C.UTF-8, en_US.UTF-8, …) for non-Latin text to be indexed.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX messages_body_trgm_idx ON messages
    USING gin (lower(body COLLATE "und-x-icu") gin_trgm_ops)
    WHERE kind = 'message' AND NOT deleted;

-- Who is mentioned where: one row per (mentioned user, message), kept equal
-- to the current `mentions` of every message that is not deleted by the
-- triggers below, in the transaction that stores the message, its edit or
-- its deletion. `GET /me/mentions` reads it newest first by the key.
CREATE TABLE mentions (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    room_id    BIGINT NOT NULL,
    PRIMARY KEY (user_id, message_id)
);
CREATE INDEX mentions_message_idx ON mentions (message_id);

CREATE FUNCTION messages_sync_mentions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM mentions WHERE message_id = NEW.id;
    END IF;
    IF NOT NEW.deleted THEN
        INSERT INTO mentions (user_id, message_id, room_id)
        SELECT u.id, NEW.id, NEW.room_id
        FROM json_array_elements_text(NEW.mentions::json) AS named(name)
        JOIN users u ON lower(u.username) = lower(named.name)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_mentions_insert AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.kind = 'message' AND NEW.mentions <> '[]')
    EXECUTE FUNCTION messages_sync_mentions();
CREATE TRIGGER messages_mentions_update AFTER UPDATE OF mentions, deleted ON messages
    FOR EACH ROW WHEN (NEW.kind = 'message'
                       AND (OLD.mentions <> NEW.mentions OR OLD.deleted <> NEW.deleted))
    EXECUTE FUNCTION messages_sync_mentions();

INSERT INTO mentions (user_id, message_id, room_id)
SELECT u.id, m.id, m.room_id
FROM messages m
CROSS JOIN LATERAL json_array_elements_text(m.mentions::json) AS named(name)
JOIN users u ON lower(u.username) = lower(named.name)
WHERE m.kind = 'message' AND NOT m.deleted AND m.mentions <> '[]'
ON CONFLICT DO NOTHING;
