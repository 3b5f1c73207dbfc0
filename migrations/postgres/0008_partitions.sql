-- The room log partitioned by time (docs/SCALING.md, "Retention: the room
-- log in time partitions"): `messages` becomes a table partitioned by range
-- of `created_at`, so retention drops a whole partition once every event in
-- it is past `RETENTION_DAYS`, instead of deleting its rows one by one.
--
-- - The rows stored before this migration go to `messages_legacy`, from
--   MINVALUE to the moment of the migration; the server adds the regular
--   partitions (`messages_add_partitions`, run at every start and by the
--   background task), always some ahead of now. There is no DEFAULT
--   partition: it would stop a partition from being detached concurrently.
-- - A unique index on a partitioned table must contain the partition key,
--   so `(room_id, seq)` and `(room_id, sender_id, client_id)` are plain
--   indexes now. Both still hold: a seq is only handed out under the room's
--   row lock (`lock_rooms`), from the room's `last_seq`, and an idempotency
--   key is looked up under the same lock before anything is inserted
--   (`stored_messages`). The primary key becomes `(id, created_at)`; `id`
--   still comes from one identity sequence shared by every partition.
-- - A foreign key can only reference a unique constraint, so the ones of
--   `reactions` (to `(room_id, seq)`) and `mentions` (to `id`) go: what
--   deletes messages deletes their reactions and mentions explicitly
--   (`delete_events`, `delete_room`, the partition drop), and both are only
--   ever read joined to their message.

ALTER TABLE reactions DROP CONSTRAINT reactions_room_id_target_seq_fkey;
ALTER TABLE mentions DROP CONSTRAINT mentions_message_id_fkey;
DROP TRIGGER messages_mentions_insert ON messages;
DROP TRIGGER messages_mentions_update ON messages;
ALTER TABLE messages RENAME TO messages_unpartitioned;

CREATE TABLE messages (
    LIKE messages_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY
) PARTITION BY RANGE (created_at);

-- When the legacy partition ends: the first second after this migration.
-- The row-by-row age pruning only ever reads below it (see
-- `messages_row_pruned_before`).
DO $$
DECLARE
    legacy_end timestamptz := date_trunc('second', now()) + interval '1 second';
    last_id bigint;
BEGIN
    EXECUTE format('CREATE TABLE messages_legacy PARTITION OF messages '
                   'FOR VALUES FROM (MINVALUE) TO (%L)', legacy_end);
    EXECUTE format('CREATE FUNCTION messages_row_pruned_before() RETURNS timestamptz '
                   'LANGUAGE sql IMMUTABLE AS $f$ SELECT %L::timestamptz $f$', legacy_end);
    INSERT INTO messages OVERRIDING SYSTEM VALUE SELECT * FROM messages_unpartitioned;
    SELECT max(id) INTO last_id FROM messages;
    IF last_id IS NOT NULL THEN
        PERFORM setval(pg_get_serial_sequence('messages', 'id'), last_id);
    END IF;
END
$$;
DROP TABLE messages_unpartitioned;

ALTER TABLE messages ADD PRIMARY KEY (id, created_at);
-- History, replay and the unread count (an index-only scan: the columns it
-- filters on are carried, see migration 0007).
CREATE INDEX messages_room_seq_idx ON messages (room_id, seq)
    INCLUDE (kind, deleted, sender_id, mentions);
CREATE INDEX messages_client_id_idx ON messages (room_id, sender_id, client_id)
    WHERE client_id IS NOT NULL;
CREATE INDEX messages_target_idx ON messages (room_id, target_seq)
    WHERE target_seq IS NOT NULL;
CREATE INDEX messages_body_trgm_idx ON messages
    USING gin (lower(body COLLATE "und-x-icu") gin_trgm_ops)
    WHERE kind = 'message' AND NOT deleted;

CREATE TRIGGER messages_mentions_insert AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.kind = 'message' AND NEW.mentions <> '[]')
    EXECUTE FUNCTION messages_sync_mentions();
CREATE TRIGGER messages_mentions_update AFTER UPDATE OF mentions, deleted ON messages
    FOR EACH ROW WHEN (NEW.kind = 'message'
                       AND (OLD.mentions <> NEW.mentions OR OLD.deleted <> NEW.deleted))
    EXECUTE FUNCTION messages_sync_mentions();

-- The partitions of `messages`, oldest first: `starts_at` NULL for the one
-- from MINVALUE; `detaching` while a concurrent detach is unfinished. The
-- bounds are read back from the catalog's text of them, which prints and
-- parses a timestamptz in the session's own time zone.
CREATE FUNCTION messages_partitions()
RETURNS TABLE (name text, starts_at timestamptz, ends_at timestamptz, detaching boolean)
LANGUAGE sql STABLE AS $$
    SELECT c.relname::text,
           substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \(''([^'']*)''\)')::timestamptz,
           substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']*)''\)')::timestamptz,
           i.inhdetachpending
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'messages'::regclass
    ORDER BY 3
$$;

-- Adds partitions of `width` after the newest one until they reach `ahead`
-- past now; after a gap (no server ran for a while), one partition first
-- spans it. Each is created as a table of its own and then attached, which
-- locks `messages` in SHARE UPDATE EXCLUSIVE mode only: appends and reads go
-- on. Instances that run it together take turns on an advisory lock
-- (first key "PRLY", as the refresh tokens' one). Answers how many it added.
CREATE FUNCTION messages_add_partitions(width interval, ahead interval)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz;
    hi timestamptz;
    added integer := 0;
    name text;
BEGIN
    IF width < interval '1 second' THEN
        RAISE EXCEPTION 'partition width % is under a second', width;
    END IF;
    PERFORM pg_advisory_xact_lock(1347570777, 8);
    SELECT COALESCE(max(p.ends_at), date_trunc('second', now())) INTO lo
    FROM messages_partitions() p;
    WHILE lo < now() + ahead LOOP
        hi := lo + width;
        IF hi <= now() THEN
            hi := lo + width * floor(extract(epoch FROM now() - lo) / extract(epoch FROM width));
        END IF;
        name := 'messages_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD"t"HH24MISS');
        EXECUTE format('CREATE TABLE %I (LIKE messages INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                       name);
        EXECUTE format('ALTER TABLE messages ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       name, lo, hi);
        added := added + 1;
        lo := hi;
    END LOOP;
    RETURN added;
END
$$;
