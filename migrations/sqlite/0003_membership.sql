-- Membership, moderation, direct conversations and blocking (README,
-- "Members, moderation and blocking").

-- Each member's role in the room (the creator is its one owner), and their
-- read marker (until they read, the room's last seq when they joined).
ALTER TABLE memberships ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
    CHECK (role IN ('owner', 'moderator', 'member'));
ALTER TABLE memberships ADD COLUMN last_read_seq INTEGER NOT NULL DEFAULT 0;
UPDATE memberships SET role = 'owner'
    WHERE user_id = (SELECT owner_id FROM rooms WHERE rooms.id = memberships.room_id);

-- A direct conversation: the two users, the smaller id first. Its name
-- (`dm-<a>-<b>`) is unique like every room's, so a pair has one.
ALTER TABLE rooms ADD COLUMN direct_a INTEGER REFERENCES users (id);
ALTER TABLE rooms ADD COLUMN direct_b INTEGER REFERENCES users (id);

-- Users banned from a room: they see it as a room that does not exist.
CREATE TABLE bans (
    room_id    INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    banned_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
) STRICT, WITHOUT ROWID;

-- blocker_id gets none of blocked_id's events (each shows as a placeholder).
CREATE TABLE blocks (
    blocker_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id),
    CHECK (blocker_id <> blocked_id)
) STRICT, WITHOUT ROWID;
