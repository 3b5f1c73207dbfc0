//! Appending a batch on Postgres: the statements of each step of
//! `batch.rs` ([`AppendTx`]), one per step, with the batch's values bound
//! as arrays (`UNNEST`); the rooms are locked with `FOR UPDATE` on their
//! rows until commit.

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgPool, Postgres};
use sqlx::query::QueryAs;

use super::administration::RECORD_AUDIT;
use super::{PgTx, reactions_json};
use crate::store::audit::{NewAuditEntry, record_audit};
use crate::store::batch::{
    AppendTx, ClientKey, DueCheck, Effects, Inserted, NewRow, ReactionRef, Target,
};
use crate::store::files::{Attachable, FileRow, select_files};
use crate::store::plan::{ThreadEffects, summary_row};
use crate::store::push::postgres_push_insert;
use crate::store::rows::{EventRow, KeyedEventRow, TargetRow, select_events, select_targets};
use crate::store::{Event, StoreResult, ThreadSummary, Timestamp};

/// The statement that inserts a batch's rows (`$1`–`$13`:
/// [`RowColumns::bind`]) and, with `$16`, queues the pushes its messages
/// are due, after the CTEs `$bumped` (which raise the rooms' `last_seq`,
/// from `$14` and `$15`, and define `stamp.at`, the rows' time), each row's
/// seq being `$seq` over the unnested rows `new` joined with `$join`,
/// inserted in their order (ids, drawn as rows are inserted, follow it
/// whatever order the join yields them in: a batch's rows are a
/// connection's sends in the order it made them). The
/// due pushes are read from the inserted rows (`e`); none when nobody has a
/// push subscription (one probe then skips every per-message lookup). What
/// the rows were given comes back as one row of arrays (aligned: the
/// aggregates read the rows in one pass), then `$more`.
macro_rules! insert_rows {
    ($bumped:expr, $seq:expr, $join:expr) => {
        insert_rows!($bumped, $seq, $join, "")
    };
    ($bumped:expr, $seq:expr, $join:expr, $more:expr) => {
        concat!(
            "WITH ",
            $bumped,
            ", inserted AS ( \
             INSERT INTO messages (room_id, seq, kind, sender_id, body, client_id, reply_to, \
                                   target_seq, mentions, reaction_key, added, thread_root, \
                                   attachments, created_at) \
             SELECT new.room_id, ",
            $seq,
            ", new.kind, new.sender_id, new.body, new.client_id, new.reply_to, \
                    new.target_seq, new.mentions, new.reaction_key, new.added, new.thread_root, \
                    new.attachments, stamp.at \
             FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::int8[], $5::text[], \
                         $6::text[], $7::int8[], $8::int8[], $9::text[], $10::text[], \
                         $11::bool[], $12::int8[], $13::text[]) WITH ORDINALITY \
                  AS new(room_id, seq, kind, sender_id, body, client_id, reply_to, \
                         target_seq, mentions, reaction_key, added, thread_root, attachments, \
                         place) ",
            $join,
            " CROSS JOIN stamp \
             ORDER BY new.place \
             RETURNING id, room_id, seq, created_at, kind, sender_id, mentions, thread_root), \
                  e AS (SELECT room_id, seq, sender_id, mentions, thread_root, \
                               false AS only_mentions FROM inserted \
                        WHERE $16::bool AND kind = 'message' \
                          AND EXISTS (SELECT 1 FROM push_subscriptions)), \
                  pushed AS (",
            postgres_push_insert!(),
            ") \
             SELECT array_agg(id), array_agg(room_id), array_agg(seq), min(created_at)",
            $more,
            " FROM inserted"
        )
    };
}
#[async_trait]
impl AppendTx for PgTx {
    async fn lock_rooms(&mut self, room_ids: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
        // Other writers of these rooms wait on the row locks until commit.
        Ok(sqlx::query_as(
            "SELECT id, last_seq FROM rooms WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        )
        .bind(room_ids)
        .fetch_all(&mut **self)
        .await?)
    }

    async fn stored_messages(
        &mut self,
        keys: &[ClientKey],
    ) -> StoreResult<Vec<(ClientKey, Event)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let room_ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let sender_ids: Vec<i64> = keys.iter().map(|k| k.1).collect();
        let client_ids: Vec<&str> = keys.iter().map(|k| k.2.as_str()).collect();
        let rows: Vec<KeyedEventRow<Timestamp>> = sqlx::query_as(select_events!(
            keyed reactions_json,
            "WHERE (m.room_id, m.sender_id, m.client_id) IN \
                   (SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::text[]))"
        ))
        .bind(&room_ids)
        .bind(&sender_ids)
        .bind(&client_ids)
        .fetch_all(&mut **self)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(KeyedEventRow::into_keyed)
            .collect())
    }

    async fn targets(&mut self, at: &[(i64, i64)]) -> StoreResult<Vec<Target>> {
        if at.is_empty() {
            return Ok(Vec::new());
        }
        let (rooms, seqs): (Vec<i64>, Vec<i64>) = at.iter().copied().unzip();
        // Above the horizon (read under the rooms' locks): see `history_after`.
        let rows: Vec<TargetRow> = sqlx::query_as(select_targets!(
            "WHERE (room_id, seq) IN (SELECT * FROM UNNEST($1::int8[], $2::int8[])) \
               AND seq > (SELECT r.horizon_seq FROM rooms r WHERE r.id = messages.room_id)"
        ))
        .bind(&rooms)
        .bind(&seqs)
        .fetch_all(&mut **self)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn threads(
        &mut self,
        at: &[(i64, i64)],
    ) -> StoreResult<Vec<((i64, i64), ThreadSummary)>> {
        let (rooms, roots): (Vec<i64>, Vec<i64>) = at.iter().copied().unzip();
        let rows: Vec<(i64, i64, i64, i64, String)> = sqlx::query_as(
            "SELECT room_id, root_seq, reply_count, last_reply_seq, participants FROM threads \
             WHERE (room_id, root_seq) IN (SELECT * FROM UNNEST($1::int8[], $2::int8[]))",
        )
        .bind(&rooms)
        .bind(&roots)
        .fetch_all(&mut **self)
        .await?;
        Ok(rows.into_iter().map(summary_row).collect())
    }

    async fn reactions(
        &mut self,
        reactions: &[ReactionRef],
    ) -> StoreResult<Vec<(ReactionRef, i64)>> {
        if reactions.is_empty() {
            return Ok(Vec::new());
        }
        let columns = ReactionColumns::of(reactions.iter());
        let rows: Vec<(i64, i64, i64, String, i64)> = sqlx::query_as(
            "SELECT room_id, target_seq, user_id, reaction_key, seq FROM reactions \
             WHERE (room_id, target_seq, user_id, reaction_key) IN \
                   (SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::text[]))",
        )
        .bind(&columns.rooms)
        .bind(&columns.targets)
        .bind(&columns.users)
        .bind(&columns.keys)
        .fetch_all(&mut **self)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(room, target, user, key, seq)| ((room, target, user, key), seq))
            .collect())
    }

    async fn attachable(&mut self, ids: &[String]) -> StoreResult<Vec<Attachable>> {
        let rows: Vec<FileRow<Timestamp>> = sqlx::query_as(select_files!(
            "WHERE f.id = ANY($1) AND f.created_at > now() - interval '23 hours'"
        ))
        .bind(ids)
        .fetch_all(&mut **self)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| crate::store::files::StoredFile::from(r).into())
            .collect())
    }

    async fn moderators(&mut self, at: &[(i64, i64)]) -> StoreResult<Vec<(i64, i64)>> {
        let (rooms, users): (Vec<i64>, Vec<i64>) = at.iter().copied().unzip();
        Ok(sqlx::query_as(
            "SELECT ms.room_id, ms.user_id \
             FROM UNNEST($1::int8[], $2::int8[]) AS wanted(room_id, user_id) \
             JOIN memberships ms ON ms.room_id = wanted.room_id AND ms.user_id = wanted.user_id \
             WHERE ms.role IN ('owner', 'moderator')",
        )
        .bind(&rooms)
        .bind(&users)
        .fetch_all(&mut **self)
        .await?)
    }

    async fn members_named(
        &mut self,
        names: &[(i64, String)],
    ) -> StoreResult<Vec<(i64, String, String, i64)>> {
        let rooms: Vec<i64> = names.iter().map(|n| n.0).collect();
        let lower: Vec<&str> = names.iter().map(|n| n.1.as_str()).collect();
        Ok(sqlx::query_as(
            "SELECT wanted.room_id, wanted.name, u.username, u.id \
             FROM UNNEST($1::int8[], $2::text[]) AS wanted(room_id, name) \
             JOIN users u ON lower(u.username) = wanted.name \
             JOIN memberships ms ON ms.room_id = wanted.room_id AND ms.user_id = u.id",
        )
        .bind(&rooms)
        .bind(&lower)
        .fetch_all(&mut **self)
        .await?)
    }

    async fn insert_events(
        &mut self,
        last_seqs: &[(i64, i64)],
        rows: &[NewRow<'_>],
        pushes: bool,
    ) -> StoreResult<Vec<Inserted>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let (bumped_ids, bumped_seqs): (Vec<i64>, Vec<i64>) = last_seqs.iter().copied().unzip();
        // One statement, one round trip: the rooms' last_seq, the rows and
        // (with `pushes`) the pushes they are due. statement_timestamp():
        // taken after the room locks were granted (`lock_rooms`).
        let inserted: InsertedArrays = RowColumns::of(rows)
            .bind(sqlx::query_as(insert_rows!(
                "bumped AS (UPDATE rooms SET last_seq = b.last_seq \
                            FROM UNNEST($14::int8[], $15::int8[]) AS b(id, last_seq) \
                            WHERE rooms.id = b.id), \
                 stamp AS (SELECT date_trunc('milliseconds', statement_timestamp()) AS at)",
                "new.seq",
                ""
            )))
            .bind(&bumped_ids)
            .bind(&bumped_seqs)
            .bind(pushes)
            .fetch_one(&mut **self)
            .await?;
        Ok(inserted_rows(inserted))
    }

    async fn record(&mut self, entries: &[NewAuditEntry]) -> StoreResult<()> {
        // Only deletions by someone other than the sender: rare, one each.
        for entry in entries {
            record_audit!(&mut **self, RECORD_AUDIT, entry)?;
        }
        Ok(())
    }

    async fn apply(&mut self, effects: &Effects<'_>) -> StoreResult<()> {
        if !effects.edited.is_empty() {
            let e = &effects.edited;
            let rooms: Vec<i64> = e.iter().map(|e| e.room_id).collect();
            let seqs: Vec<i64> = e.iter().map(|e| e.seq).collect();
            let bodies: Vec<&str> = e.iter().map(|e| e.body).collect();
            let mentions: Vec<&str> = e.iter().map(|e| e.mentions.as_str()).collect();
            let edit_seqs: Vec<i64> = e.iter().map(|e| e.edit_seq).collect();
            sqlx::query(
                "UPDATE messages m SET body = e.body, mentions = e.mentions, \
                        edited_at = edit.created_at \
                 FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::text[], $5::int8[]) \
                      AS e(room_id, seq, body, mentions, edit_seq) \
                 JOIN messages edit ON edit.room_id = e.room_id AND edit.seq = e.edit_seq \
                 WHERE m.room_id = e.room_id AND m.seq = e.seq",
            )
            .bind(&rooms)
            .bind(&seqs)
            .bind(&bodies)
            .bind(&mentions)
            .bind(&edit_seqs)
            .execute(&mut **self)
            .await?;
        }
        if !effects.reacted.is_empty() {
            let columns = ReactionColumns::of(effects.reacted.iter().map(|(r, _)| r));
            let seqs: Vec<i64> = effects.reacted.iter().map(|(_, seq)| *seq).collect();
            sqlx::query(
                "INSERT INTO reactions (room_id, target_seq, user_id, reaction_key, seq) \
                 SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::text[], $5::int8[]) \
                 ON CONFLICT (room_id, target_seq, reaction_key, user_id) \
                 DO UPDATE SET seq = EXCLUDED.seq",
            )
            .bind(&columns.rooms)
            .bind(&columns.targets)
            .bind(&columns.users)
            .bind(&columns.keys)
            .bind(&seqs)
            .execute(&mut **self)
            .await?;
        }
        if !effects.unreacted.is_empty() {
            let columns = ReactionColumns::of(effects.unreacted.iter());
            sqlx::query(
                "DELETE FROM reactions WHERE (room_id, target_seq, user_id, reaction_key) IN \
                 (SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::text[]))",
            )
            .bind(&columns.rooms)
            .bind(&columns.targets)
            .bind(&columns.users)
            .bind(&columns.keys)
            .execute(&mut **self)
            .await?;
        }
        // Attached before erasures: a message deleted in the batch that
        // stored it takes its files along.
        if !effects.attached.is_empty() {
            let ids: Vec<&str> = effects
                .attached
                .iter()
                .map(|(id, ..)| id.as_str())
                .collect();
            let seqs: Vec<i64> = effects.attached.iter().map(|(_, _, seq)| *seq).collect();
            sqlx::query(
                "UPDATE files f SET message_seq = a.seq \
                 FROM UNNEST($1::text[], $2::int8[]) AS a(id, seq) WHERE f.id = a.id",
            )
            .bind(&ids)
            .bind(&seqs)
            .execute(&mut **self)
            .await?;
        }
        if !effects.erased.is_empty() {
            let (rooms, seqs): (Vec<i64>, Vec<i64>) = effects.erased.iter().copied().unzip();
            // Its files: the row's trigger queues their objects for the
            // sweeper (migration 0010).
            sqlx::query(
                "DELETE FROM files WHERE (room_id, message_seq) IN \
                 (SELECT * FROM UNNEST($1::int8[], $2::int8[]))",
            )
            .bind(&rooms)
            .bind(&seqs)
            .execute(&mut **self)
            .await?;
            // The message, then every edit of it: the text is overwritten,
            // not flagged.
            sqlx::query(
                "UPDATE messages m SET body = '', mentions = '[]', attachments = '[]', \
                        deleted = (m.kind = 'message') \
                 FROM UNNEST($1::int8[], $2::int8[]) AS d(room_id, seq) \
                 WHERE m.room_id = d.room_id \
                   AND ((m.seq = d.seq AND m.kind = 'message') \
                        OR (m.target_seq = d.seq AND m.kind = 'edit'))",
            )
            .bind(&rooms)
            .bind(&seqs)
            .execute(&mut **self)
            .await?;
            sqlx::query(
                "DELETE FROM reactions WHERE (room_id, target_seq) IN \
                 (SELECT * FROM UNNEST($1::int8[], $2::int8[]))",
            )
            .bind(&rooms)
            .bind(&seqs)
            .execute(&mut **self)
            .await?;
        }
        if !effects.threads.is_empty() {
            apply_threads(self, &effects.threads).await?;
        }
        Ok(())
    }

    async fn queue_pushes(&mut self, messages: &[DueCheck<'_>]) -> StoreResult<()> {
        let rooms: Vec<i64> = messages.iter().map(|m| m.room_id).collect();
        let seqs: Vec<i64> = messages.iter().map(|m| m.seq).collect();
        let senders: Vec<i64> = messages.iter().map(|m| m.sender_id).collect();
        let mentions: Vec<&str> = messages.iter().map(|m| m.mentions).collect();
        let threads: Vec<Option<i64>> = messages.iter().map(|m| m.thread_root).collect();
        let only_mentions: Vec<bool> = messages.iter().map(|m| m.only_mentions).collect();
        sqlx::query(crate::store::push::POSTGRES_QUEUE_PUSHES)
            .bind(&rooms)
            .bind(&seqs)
            .bind(&senders)
            .bind(&mentions)
            .bind(&threads)
            .bind(&only_mentions)
            .execute(&mut **self)
            .await?;
        Ok(())
    }

    async fn events(&mut self, at: &[(i64, i64)]) -> StoreResult<Vec<Event>> {
        let (rooms, seqs): (Vec<i64>, Vec<i64>) = at.iter().copied().unzip();
        let rows: Vec<EventRow<Timestamp>> = sqlx::query_as(select_events!(
            reactions_json,
            "WHERE (m.room_id, m.seq) IN (SELECT * FROM UNNEST($1::int8[], $2::int8[]))"
        ))
        .bind(&rooms)
        .bind(&seqs)
        .fetch_all(&mut **self)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

/// The thread summaries, then the follows (which refer to them).
async fn apply_threads(tx: &mut PgTx, effects: &ThreadEffects) -> StoreResult<()> {
    if !effects.rows.is_empty() {
        let r = &effects.rows;
        let rooms: Vec<i64> = r.iter().map(|t| t.room_id).collect();
        let roots: Vec<i64> = r.iter().map(|t| t.root_seq).collect();
        let counts: Vec<i64> = r.iter().map(|t| t.summary.reply_count).collect();
        let lasts: Vec<i64> = r.iter().map(|t| t.summary.last_reply_seq).collect();
        let participants: Vec<String> = r
            .iter()
            .map(|t| serde_json::to_string(&t.summary.participants).expect("names serialise"))
            .collect();
        sqlx::query(
            "INSERT INTO threads (room_id, root_seq, reply_count, last_reply_seq, \
                                  last_reply_at, participants) \
             SELECT t.room_id, t.root_seq, t.reply_count, t.last_reply_seq, \
                    last.created_at, t.participants \
             FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::text[]) \
                  AS t(room_id, root_seq, reply_count, last_reply_seq, participants) \
             JOIN messages last ON last.room_id = t.room_id AND last.seq = t.last_reply_seq \
             ON CONFLICT (room_id, root_seq) DO UPDATE \
             SET reply_count = EXCLUDED.reply_count, last_reply_seq = EXCLUDED.last_reply_seq, \
                 last_reply_at = EXCLUDED.last_reply_at, participants = EXCLUDED.participants",
        )
        .bind(&rooms)
        .bind(&roots)
        .bind(&counts)
        .bind(&lasts)
        .bind(&participants)
        .execute(&mut **tx)
        .await?;
    }
    if !effects.follows.is_empty() {
        let f = &effects.follows;
        let rooms: Vec<i64> = f.iter().map(|f| f.room_id).collect();
        let roots: Vec<i64> = f.iter().map(|f| f.root_seq).collect();
        let users: Vec<i64> = f.iter().map(|f| f.user_id).collect();
        let marks: Vec<i64> = f.iter().map(|f| f.last_read_seq).collect();
        sqlx::query(
            "INSERT INTO thread_follows (room_id, root_seq, user_id, last_read_seq) \
             SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::int8[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&rooms)
        .bind(&roots)
        .bind(&users)
        .bind(&marks)
        .execute(&mut **tx)
        .await?;
    }
    if !effects.mention_follows.is_empty() {
        let f = &effects.mention_follows;
        let rooms: Vec<i64> = f.iter().map(|f| f.room_id).collect();
        let seqs: Vec<i64> = f.iter().map(|f| f.seq).collect();
        let roots: Vec<i64> = f.iter().map(|f| f.root_seq).collect();
        let marks: Vec<i64> = f.iter().map(|f| f.last_read_seq).collect();
        // `mentions` is kept by triggers in this transaction (migration 0005).
        sqlx::query(
            "INSERT INTO thread_follows (room_id, root_seq, user_id, last_read_seq) \
             SELECT f.room_id, f.root_seq, x.user_id, f.last_read_seq \
             FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::int8[]) \
                  AS f(room_id, seq, root_seq, last_read_seq) \
             JOIN messages m ON m.room_id = f.room_id AND m.seq = f.seq \
             JOIN mentions x ON x.message_id = m.id \
             ON CONFLICT DO NOTHING",
        )
        .bind(&rooms)
        .bind(&seqs)
        .bind(&roots)
        .bind(&marks)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// `AppendTx::insert_events` without a transaction or a lock taken
/// beforehand, for a batch that reads nothing under the room locks
/// (`batch.rs`): one autocommitted statement locks the rooms' rows in
/// ascending id order (as `lock_rooms` does: two batches never wait for each
/// other in a cycle) until it commits, so seq follows commit order as on the
/// locked path, raises each room's `last_seq` by its count in `counts`
/// (`(room id, n)`), inserts `rows` (seqs relative: 1..=n in each room)
/// above the room's previous `last_seq`, stamped with one time taken once
/// every room is locked, and queues their pushes. Returns the rows as
/// inserted and each room's previous `last_seq`. A room that does not exist
/// leaves its rows' seq NULL: the statement fails and stores nothing.
pub(super) async fn insert_unlocked(
    pool: &PgPool,
    counts: &[(i64, i64)],
    rows: &[NewRow<'_>],
) -> StoreResult<(Vec<Inserted>, Vec<(i64, i64)>)> {
    let (ids, ns): (Vec<i64>, Vec<i64>) = counts.iter().copied().unzip();
    type Answer = (Vec<i64>, Vec<i64>, Vec<i64>, Timestamp, Vec<i64>, Vec<i64>);
    let (inserted_ids, rooms, seqs, created_at, bumped, bases): Answer = RowColumns::of(rows)
        .bind(sqlx::query_as(insert_rows!(
            "locked AS (SELECT id, last_seq FROM rooms WHERE id = ANY($14) \
                        ORDER BY id FOR NO KEY UPDATE), \
             bumped AS (UPDATE rooms SET last_seq = l.last_seq + c.n \
                        FROM locked l JOIN UNNEST($14::int8[], $15::int8[]) AS c(id, n) \
                             ON c.id = l.id \
                        WHERE rooms.id = l.id \
                        RETURNING rooms.id, l.last_seq AS base), \
             stamp AS (SELECT date_trunc('milliseconds', clock_timestamp()) AS at \
                       FROM (SELECT count(*) FROM bumped) AS every_room_locked)",
            "b.base + new.seq",
            "LEFT JOIN bumped b ON b.id = new.room_id",
            ", (SELECT array_agg(id) FROM bumped), (SELECT array_agg(base) FROM bumped)"
        )))
        .bind(&ids)
        .bind(&ns)
        .bind(true)
        .fetch_one(pool)
        .await?;
    Ok((
        inserted_rows((inserted_ids, rooms, seqs, created_at)),
        bumped.into_iter().zip(bases).collect(),
    ))
}

/// What [`insert_rows`] answers first: ids, room ids, seqs (aligned) and
/// the rows' one time.
type InsertedArrays = (Vec<i64>, Vec<i64>, Vec<i64>, Timestamp);

fn inserted_rows((ids, rooms, seqs, created_at): InsertedArrays) -> Vec<Inserted> {
    ids.into_iter()
        .zip(rooms)
        .zip(seqs)
        .map(|((id, room_id), seq)| Inserted {
            room_id,
            seq,
            id,
            created_at,
        })
        .collect()
}

/// A batch's rows as one array per column, for [`insert_rows`].
struct RowColumns<'a> {
    rooms: Vec<i64>,
    seqs: Vec<i64>,
    kinds: Vec<&'static str>,
    senders: Vec<i64>,
    bodies: Vec<&'a str>,
    client_ids: Vec<Option<&'a str>>,
    replies: Vec<Option<i64>>,
    targets: Vec<Option<i64>>,
    mentions: Vec<&'a str>,
    keys: Vec<Option<&'a str>>,
    added: Vec<Option<bool>>,
    threads: Vec<Option<i64>>,
    attachments: Vec<&'a str>,
}

impl<'a> RowColumns<'a> {
    fn of(rows: &'a [NewRow<'a>]) -> Self {
        RowColumns {
            rooms: rows.iter().map(|r| r.room_id).collect(),
            seqs: rows.iter().map(|r| r.seq).collect(),
            kinds: rows.iter().map(|r| r.kind.as_str()).collect(),
            senders: rows.iter().map(|r| r.sender_id).collect(),
            bodies: rows.iter().map(|r| r.body).collect(),
            client_ids: rows.iter().map(|r| r.client_id).collect(),
            replies: rows.iter().map(|r| r.reply_to).collect(),
            targets: rows.iter().map(|r| r.target).collect(),
            mentions: rows.iter().map(|r| r.mentions.as_str()).collect(),
            keys: rows.iter().map(|r| r.key).collect(),
            added: rows.iter().map(|r| r.added).collect(),
            threads: rows.iter().map(|r| r.thread_root).collect(),
            attachments: rows.iter().map(|r| r.attachments.as_str()).collect(),
        }
    }

    /// Binds `$1`–`$13`.
    fn bind<O>(
        self,
        query: QueryAs<'a, Postgres, O, PgArguments>,
    ) -> QueryAs<'a, Postgres, O, PgArguments> {
        query
            .bind(self.rooms)
            .bind(self.seqs)
            .bind(self.kinds)
            .bind(self.senders)
            .bind(self.bodies)
            .bind(self.client_ids)
            .bind(self.replies)
            .bind(self.targets)
            .bind(self.mentions)
            .bind(self.keys)
            .bind(self.added)
            .bind(self.threads)
            .bind(self.attachments)
    }
}

/// Reaction refs as one array per column, for `UNNEST`.
struct ReactionColumns<'a> {
    rooms: Vec<i64>,
    targets: Vec<i64>,
    users: Vec<i64>,
    keys: Vec<&'a str>,
}

impl<'a> ReactionColumns<'a> {
    fn of(refs: impl Iterator<Item = &'a ReactionRef>) -> Self {
        let mut c = ReactionColumns {
            rooms: Vec::new(),
            targets: Vec::new(),
            users: Vec::new(),
            keys: Vec::new(),
        };
        for (room, target, user, key) in refs {
            c.rooms.push(*room);
            c.targets.push(*target);
            c.users.push(*user);
            c.keys.push(key);
        }
        c
    }
}
