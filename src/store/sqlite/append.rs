//! Appending a batch on SQLite: the statements of each step of
//! `batch.rs` ([`AppendTx`]), run in the `BEGIN IMMEDIATE` transaction that
//! holds the one write lock (so every room of the batch is "locked").

use std::collections::HashMap;

use async_trait::async_trait;

use super::administration::RECORD_AUDIT;
use super::{INSERT_ROWS_PER_STATEMENT, Millis, SqliteTx, now, reactions_json};
use crate::store::audit::{NewAuditEntry, record_audit};
use crate::store::batch::{
    AppendTx, ClientKey, DueCheck, Effects, Inserted, NewRow, ReactionRef, Target, due_checks,
};
use crate::store::files::{Attachable, FileRow, StoredFile, select_files};
use crate::store::plan::{ThreadEffects, summary_row};
use crate::store::rows::{EventRow, KeyedEventRow, TargetRow, select_events, select_targets};
use crate::store::{Event, StoreError, StoreResult, ThreadSummary};

#[async_trait]
impl AppendTx for SqliteTx {
    async fn lock_rooms(&mut self, room_ids: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
        // The whole database is locked already (BEGIN IMMEDIATE).
        let mut locked = Vec::with_capacity(room_ids.len());
        for &room_id in room_ids {
            let row: Option<(i64,)> = sqlx::query_as("SELECT last_seq FROM rooms WHERE id = ?")
                .bind(room_id)
                .fetch_optional(&mut **self)
                .await?;
            locked.extend(row.map(|(seq,)| (room_id, seq)));
        }
        Ok(locked)
    }

    async fn stored_messages(
        &mut self,
        keys: &[ClientKey],
    ) -> StoreResult<Vec<(ClientKey, Event)>> {
        let mut stored = Vec::new();
        for (room_id, sender_id, client_id) in keys {
            let row: Option<KeyedEventRow<Millis>> = sqlx::query_as(select_events!(
                keyed reactions_json,
                "WHERE m.room_id = ? AND m.sender_id = ? AND m.client_id = ?"
            ))
            .bind(room_id)
            .bind(sender_id)
            .bind(client_id)
            .fetch_optional(&mut **self)
            .await?;
            stored.extend(row.and_then(KeyedEventRow::into_keyed));
        }
        Ok(stored)
    }

    async fn targets(&mut self, at: &[(i64, i64)]) -> StoreResult<Vec<Target>> {
        let mut found = Vec::with_capacity(at.len());
        for &(room_id, seq) in at {
            let row: Option<TargetRow> =
                sqlx::query_as(select_targets!("WHERE room_id = ? AND seq = ?"))
                    .bind(room_id)
                    .bind(seq)
                    .fetch_optional(&mut **self)
                    .await?;
            found.extend(row.map(Target::from));
        }
        Ok(found)
    }

    async fn threads(
        &mut self,
        at: &[(i64, i64)],
    ) -> StoreResult<Vec<((i64, i64), ThreadSummary)>> {
        let mut found = Vec::with_capacity(at.len());
        for &(room_id, root_seq) in at {
            let row: Option<(i64, i64, i64, i64, String)> = sqlx::query_as(
                "SELECT room_id, root_seq, reply_count, last_reply_seq, participants \
                 FROM threads WHERE room_id = ? AND root_seq = ?",
            )
            .bind(room_id)
            .bind(root_seq)
            .fetch_optional(&mut **self)
            .await?;
            found.extend(row.map(summary_row));
        }
        Ok(found)
    }

    async fn reactions(
        &mut self,
        reactions: &[ReactionRef],
    ) -> StoreResult<Vec<(ReactionRef, i64)>> {
        let mut found = Vec::new();
        for r in reactions {
            let row: Option<(i64,)> = sqlx::query_as(
                "SELECT seq FROM reactions \
                 WHERE room_id = ? AND target_seq = ? AND user_id = ? AND reaction_key = ?",
            )
            .bind(r.0)
            .bind(r.1)
            .bind(r.2)
            .bind(&r.3)
            .fetch_optional(&mut **self)
            .await?;
            found.extend(row.map(|(seq,)| (r.clone(), seq)));
        }
        Ok(found)
    }

    async fn moderators(&mut self, at: &[(i64, i64)]) -> StoreResult<Vec<(i64, i64)>> {
        let mut found = Vec::new();
        for &(room_id, user_id) in at {
            let row: Option<(i64,)> = sqlx::query_as(
                "SELECT 1 FROM memberships \
                 WHERE room_id = ? AND user_id = ? AND role IN ('owner', 'moderator')",
            )
            .bind(room_id)
            .bind(user_id)
            .fetch_optional(&mut **self)
            .await?;
            found.extend(row.map(|_| (room_id, user_id)));
        }
        Ok(found)
    }

    async fn attachable(&mut self, ids: &[String]) -> StoreResult<Vec<Attachable>> {
        let ids = serde_json::to_string(ids).expect("ids serialise");
        let fresh = Millis::from(chrono::Utc::now() - chrono::Duration::hours(23));
        let rows: Vec<FileRow<Millis>> = sqlx::query_as(select_files!(
            "WHERE f.id IN (SELECT value FROM json_each(?1)) AND f.created_at > ?2"
        ))
        .bind(ids)
        .bind(fresh)
        .fetch_all(&mut **self)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| StoredFile::from(r).into())
            .collect())
    }

    async fn members_named(
        &mut self,
        names: &[(i64, String)],
    ) -> StoreResult<Vec<(i64, String, String, i64)>> {
        let mut found = Vec::new();
        for (room_id, name) in names {
            // `username` is NOCASE: `=` ignores (ASCII) letter case.
            let row: Option<(String, i64)> = sqlx::query_as(
                "SELECT u.username, u.id FROM users u \
                 JOIN memberships ms ON ms.user_id = u.id AND ms.room_id = ? \
                 WHERE u.username = ?",
            )
            .bind(room_id)
            .bind(name)
            .fetch_optional(&mut **self)
            .await?;
            found.extend(row.map(|(canonical, id)| (*room_id, name.clone(), canonical, id)));
        }
        Ok(found)
    }

    async fn insert_events(
        &mut self,
        last_seqs: &[(i64, i64)],
        rows: &[NewRow<'_>],
        pushes: bool,
    ) -> StoreResult<Vec<Inserted>> {
        for &(room_id, last_seq) in last_seqs {
            sqlx::query("UPDATE rooms SET last_seq = ? WHERE id = ?")
                .bind(last_seq)
                .bind(room_id)
                .execute(&mut **self)
                .await?;
        }
        // Taken under the write lock, so it never runs backwards against seq
        // (short of the clock itself doing so).
        let created_at = now();
        // Many rows per statement: the search index (FTS5) writes what a
        // statement added as one segment, so one statement per row would
        // make a segment per message, and merging them would cost more than
        // the inserts themselves.
        let mut ids = HashMap::with_capacity(rows.len());
        // Whether anybody has a push subscription, read by the same
        // statement: without one no push is due, and the batch's messages
        // are not asked one by one (a round trip each).
        let mut subscribed = false;
        for chunk in rows.chunks(INSERT_ROWS_PER_STATEMENT) {
            let mut sql = String::from(
                "INSERT INTO messages (room_id, seq, kind, sender_id, body, client_id, reply_to, \
                                       target_seq, mentions, reaction_key, added, thread_root, \
                                       attachments, \
                                       created_at) \
                 VALUES ",
            );
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
            }
            sql.push_str(" RETURNING room_id, seq, id, EXISTS (SELECT 1 FROM push_subscriptions)");
            let mut query = sqlx::query_as::<_, (i64, i64, i64, bool)>(&sql);
            for row in chunk {
                query = query
                    .bind(row.room_id)
                    .bind(row.seq)
                    .bind(row.kind.as_str())
                    .bind(row.sender_id)
                    .bind(row.body)
                    .bind(row.client_id)
                    .bind(row.reply_to)
                    .bind(row.target)
                    .bind(&row.mentions)
                    .bind(row.key)
                    .bind(row.added)
                    .bind(row.thread_root)
                    .bind(&row.attachments)
                    .bind(created_at);
            }
            // RETURNING gives the rows in no promised order: match by key.
            for (room_id, seq, id, any) in query.fetch_all(&mut **self).await? {
                ids.insert((room_id, seq), id);
                subscribed |= any;
            }
        }
        if pushes && subscribed {
            self.queue_pushes(&due_checks(rows)).await?;
        }
        rows.iter()
            .map(|row| {
                let id = ids.get(&(row.room_id, row.seq)).copied().ok_or_else(|| {
                    StoreError::Database(sqlx::Error::Protocol(format!(
                        "no id returned for seq {} of room {}",
                        row.seq, row.room_id
                    )))
                })?;
                Ok(Inserted {
                    room_id: row.room_id,
                    seq: row.seq,
                    id,
                    created_at: created_at.into(),
                })
            })
            .collect()
    }

    async fn record(&mut self, entries: &[NewAuditEntry]) -> StoreResult<()> {
        // Only deletions by someone other than the sender: rare, one each.
        for entry in entries {
            record_audit!(&mut **self, RECORD_AUDIT, entry)?;
        }
        Ok(())
    }

    async fn apply(&mut self, effects: &Effects<'_>) -> StoreResult<()> {
        for e in &effects.edited {
            sqlx::query(
                "UPDATE messages SET body = ?3, mentions = ?4, \
                        edited_at = (SELECT created_at FROM messages WHERE room_id = ?1 AND seq = ?5) \
                 WHERE room_id = ?1 AND seq = ?2",
            )
            .bind(e.room_id)
            .bind(e.seq)
            .bind(e.body)
            .bind(&e.mentions)
            .bind(e.edit_seq)
            .execute(&mut **self)
            .await?;
        }
        for ((room_id, target, user_id, key), seq) in &effects.reacted {
            sqlx::query(
                "INSERT INTO reactions (room_id, target_seq, user_id, reaction_key, seq) \
                 VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (room_id, target_seq, reaction_key, user_id) \
                 DO UPDATE SET seq = excluded.seq",
            )
            .bind(room_id)
            .bind(target)
            .bind(user_id)
            .bind(key)
            .bind(seq)
            .execute(&mut **self)
            .await?;
        }
        for (room_id, target, user_id, key) in &effects.unreacted {
            sqlx::query(
                "DELETE FROM reactions \
                 WHERE room_id = ? AND target_seq = ? AND user_id = ? AND reaction_key = ?",
            )
            .bind(room_id)
            .bind(target)
            .bind(user_id)
            .bind(key)
            .execute(&mut **self)
            .await?;
        }
        // Attached before erasures: a message deleted in the batch that
        // stored it takes its files along.
        for (id, room_id, seq) in &effects.attached {
            sqlx::query("UPDATE files SET message_seq = ?3 WHERE id = ?1 AND room_id = ?2")
                .bind(id)
                .bind(room_id)
                .bind(seq)
                .execute(&mut **self)
                .await?;
        }
        for (room_id, seq) in &effects.erased {
            // Its files: the row's trigger queues their objects for the
            // sweeper (migration 0008).
            sqlx::query("DELETE FROM files WHERE room_id = ?1 AND message_seq = ?2")
                .bind(room_id)
                .bind(seq)
                .execute(&mut **self)
                .await?;
            // The message, then every edit of it: the text is overwritten,
            // not flagged.
            sqlx::query(
                "UPDATE messages SET body = '', mentions = '[]', attachments = '[]', \
                        deleted = (kind = 'message') \
                 WHERE room_id = ?1 \
                   AND ((seq = ?2 AND kind = 'message') OR (target_seq = ?2 AND kind = 'edit'))",
            )
            .bind(room_id)
            .bind(seq)
            .execute(&mut **self)
            .await?;
            sqlx::query("DELETE FROM reactions WHERE room_id = ? AND target_seq = ?")
                .bind(room_id)
                .bind(seq)
                .execute(&mut **self)
                .await?;
        }
        apply_threads(self, &effects.threads).await
    }

    async fn queue_pushes(&mut self, messages: &[DueCheck<'_>]) -> StoreResult<()> {
        let now = chrono::Utc::now().timestamp_millis();
        for m in messages {
            sqlx::query(crate::store::push::SQLITE_QUEUE_PUSHES)
                .bind(m.room_id)
                .bind(m.seq)
                .bind(m.sender_id)
                .bind(m.mentions)
                .bind(now)
                .bind(m.thread_root)
                .bind(m.only_mentions)
                .execute(&mut **self)
                .await?;
        }
        Ok(())
    }

    async fn events(&mut self, at: &[(i64, i64)]) -> StoreResult<Vec<Event>> {
        let mut found = Vec::with_capacity(at.len());
        for &(room_id, seq) in at {
            let row: Option<EventRow<Millis>> = sqlx::query_as(select_events!(
                reactions_json,
                "WHERE m.room_id = ? AND m.seq = ?"
            ))
            .bind(room_id)
            .bind(seq)
            .fetch_optional(&mut **self)
            .await?;
            found.extend(row.map(Event::from));
        }
        Ok(found)
    }
}

/// The thread summaries, then the follows (which refer to them).
async fn apply_threads(tx: &mut SqliteTx, effects: &ThreadEffects) -> StoreResult<()> {
    for t in &effects.rows {
        let participants = serde_json::to_string(&t.summary.participants).expect("names serialise");
        sqlx::query(
            "INSERT INTO threads (room_id, root_seq, reply_count, last_reply_seq, \
                                  last_reply_at, participants) \
             SELECT ?1, ?2, ?3, ?4, created_at, ?5 FROM messages WHERE room_id = ?1 AND seq = ?4 \
             ON CONFLICT (room_id, root_seq) DO UPDATE \
             SET reply_count = excluded.reply_count, last_reply_seq = excluded.last_reply_seq, \
                 last_reply_at = excluded.last_reply_at, participants = excluded.participants",
        )
        .bind(t.room_id)
        .bind(t.root_seq)
        .bind(t.summary.reply_count)
        .bind(t.summary.last_reply_seq)
        .bind(participants)
        .execute(&mut **tx)
        .await?;
    }
    for f in &effects.follows {
        sqlx::query(
            "INSERT OR IGNORE INTO thread_follows (room_id, root_seq, user_id, last_read_seq) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(f.room_id)
        .bind(f.root_seq)
        .bind(f.user_id)
        .bind(f.last_read_seq)
        .execute(&mut **tx)
        .await?;
    }
    for f in &effects.mention_follows {
        // `mentions` is kept by triggers in this transaction (migration 0005).
        sqlx::query(
            "INSERT OR IGNORE INTO thread_follows (room_id, root_seq, user_id, last_read_seq) \
             SELECT ?1, ?3, x.user_id, ?4 FROM messages m JOIN mentions x ON x.message_id = m.id \
             WHERE m.room_id = ?1 AND m.seq = ?2",
        )
        .bind(f.room_id)
        .bind(f.seq)
        .bind(f.root_seq)
        .bind(f.last_read_seq)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
