-- Retention (README, "Retention"): `RETENTION_DAYS` and
-- `RETENTION_MAX_EVENTS_PER_ROOM` let the pruner delete the oldest events of
-- a room. It only ever deletes a prefix of the room's log: every event with
-- seq <= `horizon_seq`, which it advances in the transaction that deletes
-- them (under the write lock, like a writer). `last_seq` is untouched, so a
-- seq is never handed out twice. Reactions and mentions of a pruned message
-- go with it (their foreign keys cascade), and the trigger
-- `messages_search_delete` removes its search index entry.
ALTER TABLE rooms ADD COLUMN horizon_seq INTEGER NOT NULL DEFAULT 0
    CHECK (horizon_seq >= 0 AND horizon_seq <= last_seq);
