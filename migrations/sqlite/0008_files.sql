-- Uploaded files (README, "Files"): see migrations/postgres/0010_files.sql,
-- which this mirrors. Timestamps are Unix milliseconds.
CREATE TABLE files (
    id           TEXT PRIMARY KEY,
    room_id      INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    uploader_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    width        INTEGER,
    height       INTEGER,
    thumbnail    INTEGER NOT NULL DEFAULT 0,
    message_seq  INTEGER,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX files_message_idx ON files (room_id, message_seq) WHERE message_seq IS NOT NULL;
CREATE INDEX files_unattached_idx ON files (created_at) WHERE message_seq IS NULL;
CREATE INDEX files_uploader_idx ON files (uploader_id);

ALTER TABLE users ADD COLUMN file_bytes INTEGER NOT NULL DEFAULT 0;

ALTER TABLE messages ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]';

CREATE TABLE file_erasures (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id       TEXT NOT NULL,
    user_id       INTEGER NOT NULL,
    release_bytes INTEGER NOT NULL DEFAULT 0,
    due_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX file_erasures_due_idx ON file_erasures (due_at);
CREATE INDEX file_erasures_file_idx ON file_erasures (file_id);

CREATE TRIGGER files_erase AFTER DELETE ON files FOR EACH ROW BEGIN
    INSERT INTO file_erasures (file_id, user_id, release_bytes, due_at)
    VALUES (OLD.id, OLD.uploader_id, OLD.size, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
