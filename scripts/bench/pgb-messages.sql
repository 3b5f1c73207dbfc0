-- `pgb_messages`: Parley's `messages` table, empty, under another name, for
-- pgbench (ingest-ratio.sh, commit-floor.sh): columns, defaults, checks and
-- identity copied, the same partitioning (one partition covering all time,
-- as every row of a run lands in the current partition), then every index
-- and trigger of `messages` re-created from its definition (read from the
-- catalog, so run it on a database Parley has migrated).
DROP TABLE IF EXISTS pgb_messages;
CREATE TABLE pgb_messages (
    LIKE messages INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY
) PARTITION BY RANGE (created_at);
CREATE TABLE pgb_messages_all PARTITION OF pgb_messages
    FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
DO $$
DECLARE
    def text;
BEGIN
    FOR def IN
        SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
        WHERE i.indrelid = 'messages'::regclass
        UNION ALL
        SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t
        WHERE t.tgrelid = 'messages'::regclass AND NOT t.tgisinternal
    LOOP
        -- A partitioned index reads `ON ONLY messages`: without ONLY here,
        -- so that the partition gets it too.
        def := regexp_replace(def, ' ON (ONLY )?(public\.)?messages ', ' ON pgb_messages ');
        def := regexp_replace(def, '^(CREATE (UNIQUE )?(INDEX|TRIGGER) )', '\1pgb_');
        EXECUTE def;
    END LOOP;
END
$$;
