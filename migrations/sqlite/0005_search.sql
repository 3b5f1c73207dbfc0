-- Search and mentions (README, "Search and mentions").

-- Substring search in any script: an FTS5 index of trigrams (case folded,
-- Unicode-aware) of the current text of the messages that can match (not
-- deleted; edit, delete and reaction rows never match). External content:
-- the text lives only in `messages`; the index is kept in step by the
-- triggers below, in the transaction that stores the message, its edit or
-- its deletion. `secure-delete`: a deleted entry is removed from the index
-- b-tree itself, not merely shadowed by a delete marker, so an erased
-- message's text is gone from the FTS tables too.
CREATE VIRTUAL TABLE message_search USING fts5(
    body,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'trigram case_sensitive 0'
);
INSERT INTO message_search (message_search, rank) VALUES ('secure-delete', 1);
INSERT INTO message_search (rowid, body)
    SELECT id, body FROM messages WHERE kind = 'message' AND deleted = 0;

CREATE TRIGGER messages_search_insert AFTER INSERT ON messages
    WHEN NEW.kind = 'message' AND NEW.deleted = 0
BEGIN
    INSERT INTO message_search (rowid, body) VALUES (NEW.id, NEW.body);
END;

-- An edit changes the body; an erasure empties it and sets `deleted`.
CREATE TRIGGER messages_search_update AFTER UPDATE OF body, deleted ON messages
    WHEN NEW.kind = 'message' AND (OLD.body IS NOT NEW.body OR OLD.deleted IS NOT NEW.deleted)
BEGIN
    INSERT INTO message_search (message_search, rowid, body)
        SELECT 'delete', OLD.id, OLD.body WHERE OLD.deleted = 0;
    INSERT INTO message_search (rowid, body)
        SELECT NEW.id, NEW.body WHERE NEW.deleted = 0;
END;

-- Deleting a room deletes its messages.
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages
    WHEN OLD.kind = 'message' AND OLD.deleted = 0
BEGIN
    INSERT INTO message_search (message_search, rowid, body) VALUES ('delete', OLD.id, OLD.body);
END;

-- Who is mentioned where: one row per (mentioned user, message), kept equal
-- to the current `mentions` of every message that is not deleted by the
-- triggers below. `GET /me/mentions` reads it newest first by the key.
CREATE TABLE mentions (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    room_id    INTEGER NOT NULL,
    PRIMARY KEY (user_id, message_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX mentions_message_idx ON mentions (message_id);

CREATE TRIGGER messages_mentions_insert AFTER INSERT ON messages
    WHEN NEW.kind = 'message' AND NEW.deleted = 0 AND NEW.mentions <> '[]'
BEGIN
    -- `username` is NOCASE: `=` ignores letter case.
    INSERT OR IGNORE INTO mentions (user_id, message_id, room_id)
        SELECT u.id, NEW.id, NEW.room_id
        FROM json_each(NEW.mentions) AS named JOIN users u ON u.username = named.value;
END;

CREATE TRIGGER messages_mentions_update AFTER UPDATE OF mentions, deleted ON messages
    WHEN NEW.kind = 'message'
         AND (OLD.mentions IS NOT NEW.mentions OR OLD.deleted IS NOT NEW.deleted)
BEGIN
    DELETE FROM mentions WHERE message_id = NEW.id;
    INSERT OR IGNORE INTO mentions (user_id, message_id, room_id)
        SELECT u.id, NEW.id, NEW.room_id
        FROM json_each(NEW.mentions) AS named JOIN users u ON u.username = named.value
        WHERE NEW.deleted = 0;
END;

INSERT OR IGNORE INTO mentions (user_id, message_id, room_id)
    SELECT u.id, m.id, m.room_id
    FROM messages m, json_each(m.mentions) AS named JOIN users u ON u.username = named.value
    WHERE m.kind = 'message' AND m.deleted = 0 AND m.mentions <> '[]';
