-- Read state (README, "Read markers, unread counts, typing and presence"):
-- a member's unread count is the room's `message` events after their
-- `memberships.last_read_seq` that are not deleted and not their own. This
-- index holds exactly those rows, with their sender and mentions, so counting
-- a range (and the mentions in it) is
-- an index-only scan of the unread part.
CREATE INDEX messages_unread_idx ON messages (room_id, seq) INCLUDE (sender_id, mentions)
    WHERE kind = 'message' AND NOT deleted;

-- The rooms of a user, with their read markers (the room list).
CREATE INDEX memberships_user_room_idx ON memberships (user_id, room_id)
    INCLUDE (role, last_read_seq);
