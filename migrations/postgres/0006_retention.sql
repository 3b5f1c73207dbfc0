-- Retention (README, "Retention"): `RETENTION_DAYS` and
-- `RETENTION_MAX_EVENTS_PER_ROOM` let the pruner delete the oldest events of
-- a room. It only ever deletes a prefix of the room's log: every event with
-- seq <= `horizon_seq`, which it advances in the transaction that deletes
-- them (under the room's row lock, like a writer). `last_seq` is untouched,
-- so a seq is never handed out twice. Reactions and mentions of a pruned
-- message go with it (their foreign keys cascade), and so do its search
-- index entries.
ALTER TABLE rooms ADD COLUMN horizon_seq BIGINT NOT NULL DEFAULT 0
    CHECK (horizon_seq >= 0);
ALTER TABLE rooms ADD CONSTRAINT rooms_horizon_below_last CHECK (horizon_seq <= last_seq);
