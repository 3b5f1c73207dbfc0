-- Uploaded files (README, "Files"). The bytes live in the object storage
-- (STORAGE_URL) under the file's random id; this table holds what is known
-- about them. A file belongs to the room it was uploaded to; attached to a
-- message, `message_seq` is that message's seq (set under the room's lock
-- by the append that stores the message).
CREATE TABLE files (
    id           TEXT PRIMARY KEY,
    room_id      BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    uploader_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    width        BIGINT,
    height       BIGINT,
    thumbnail    BOOLEAN NOT NULL DEFAULT FALSE,
    message_seq  BIGINT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT date_trunc('milliseconds', now())
);
CREATE INDEX files_message_idx ON files (room_id, message_seq) WHERE message_seq IS NOT NULL;
CREATE INDEX files_unattached_idx ON files (created_at) WHERE message_seq IS NULL;
CREATE INDEX files_uploader_idx ON files (uploader_id);

-- What one user's files take (and what uploads in progress reserved):
-- reserved with a conditional UPDATE, so concurrent uploads never pass
-- USER_QUOTA_BYTES together.
ALTER TABLE users ADD COLUMN file_bytes BIGINT NOT NULL DEFAULT 0;

-- A message's attachments as rendered (a JSON array of file objects
-- without URLs), written with the message, emptied when it is deleted.
ALTER TABLE messages ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]';

-- Objects to remove from the storage: the durable erasure queue. A row is
-- written in the same transaction as what makes its object garbage (a file
-- row deleted, an upload begun: due when the upload would be abandoned),
-- and deleted, releasing `release_bytes` of the user's quota, once the
-- object is gone. Sweepers on several instances claim rows by moving
-- `due_at` ahead (a lease).
CREATE TABLE file_erasures (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_id       TEXT NOT NULL,
    user_id       BIGINT NOT NULL,
    release_bytes BIGINT NOT NULL DEFAULT 0,
    due_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX file_erasures_due_idx ON file_erasures (due_at);
CREATE INDEX file_erasures_file_idx ON file_erasures (file_id);

-- Whatever deletes a file row (its message deleted or pruned, its room or
-- its uploader deleted, never attached in time) queues its objects.
CREATE FUNCTION files_erase() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO file_erasures (file_id, user_id, release_bytes, due_at)
    VALUES (OLD.id, OLD.uploader_id, OLD.size, now());
    RETURN NULL;
END
$$;
CREATE TRIGGER files_erase AFTER DELETE ON files FOR EACH ROW EXECUTE FUNCTION files_erase();
