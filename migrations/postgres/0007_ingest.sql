-- Durable ingest (docs/SCALING.md, "One Postgres primary"): fewer writes per
-- stored event.
--
-- 1. No foreign keys from `messages` to `rooms` and `users`. Postgres checks
--    a foreign key with a row-level trigger that runs a `SELECT … FOR KEY
--    SHARE` per inserted row: with a batch of hundreds of rows that was the
--    largest single cost of an append. Both hold without them:
--    - an event is only ever inserted by an append that holds its room's row
--      lock (`FOR UPDATE`, taken first in the transaction), so the room
--      exists until commit; a room is deleted under the same lock, and its
--      events with it, in one statement (`delete_room`), so a room's events
--      never outlive it;
--    - `sender_id` is the authenticated user of the connection or request,
--      and users are never deleted.
-- 2. One index on `(room_id, seq)` instead of two: the unique constraint
--    carries the columns the unread count reads (`kind`, `deleted`,
--    `sender_id`, `mentions`), so counting a member's unread range stays an
--    index-only scan and `messages_unread_idx` goes.
ALTER TABLE messages
    DROP CONSTRAINT IF EXISTS messages_room_id_fkey,
    DROP CONSTRAINT IF EXISTS messages_sender_id_fkey;

CREATE UNIQUE INDEX messages_room_seq_key ON messages (room_id, seq)
    INCLUDE (kind, deleted, sender_id, mentions);
-- Reactions reference `(room_id, seq)`: their foreign key moves to the new
-- index.
ALTER TABLE reactions DROP CONSTRAINT reactions_room_id_target_seq_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_room_id_seq_key;
ALTER TABLE messages ADD CONSTRAINT messages_room_id_seq_key
    UNIQUE USING INDEX messages_room_seq_key;
ALTER TABLE reactions ADD CONSTRAINT reactions_room_id_target_seq_fkey
    FOREIGN KEY (room_id, target_seq) REFERENCES messages (room_id, seq) ON DELETE CASCADE;
DROP INDEX messages_unread_idx;
