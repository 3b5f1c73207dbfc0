-- Membership, moderation, direct conversations and blocking (README,
-- "Members, moderation and blocking").

-- Each member's role in the room (the creator is its one owner), and their
-- read marker (until they read, the room's last seq when they joined).
ALTER TABLE memberships
    ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
        CHECK (role IN ('owner', 'moderator', 'member')),
    ADD COLUMN last_read_seq BIGINT NOT NULL DEFAULT 0;
UPDATE memberships m SET role = 'owner'
    FROM rooms r WHERE r.id = m.room_id AND r.owner_id = m.user_id;

-- A direct conversation: the two users, the smaller id first. Its name
-- (`dm-<a>-<b>`) is unique like every room's, so a pair has one.
ALTER TABLE rooms
    ADD COLUMN direct_a BIGINT REFERENCES users (id),
    ADD COLUMN direct_b BIGINT REFERENCES users (id),
    ADD CONSTRAINT rooms_direct_pair CHECK (
        (direct_a IS NULL AND direct_b IS NULL) OR (direct_a < direct_b)
    );

-- Users banned from a room: they see it as a room that does not exist.
CREATE TABLE bans (
    room_id    BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    banned_by  BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT date_trunc('milliseconds', now()),
    PRIMARY KEY (room_id, user_id)
);

-- blocker_id gets none of blocked_id's events (each shows as a placeholder).
CREATE TABLE blocks (
    blocker_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT date_trunc('milliseconds', now()),
    PRIMARY KEY (blocker_id, blocked_id),
    CHECK (blocker_id <> blocked_id)
);
