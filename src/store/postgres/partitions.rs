//! The room log's time partitions on Postgres (migration 0008;
//! docs/SCALING.md, "Retention: the room log in time partitions").
//!
//! Adding partitions is the SQL function `messages_add_partitions`. Dropping
//! one whose events are all past the age limit goes, for each, oldest first:
//!
//! 1. read which rooms have events in it, and the highest seq of each;
//! 2. in one short transaction, lock those rooms (in id order, as writers
//!    do) and move each one's horizon over them (never back, never past its
//!    `last_seq`); events of theirs at or below the new horizon in newer
//!    partitions (only a clock that went back puts one there) go too. From
//!    the commit on, history, replay and new edits, reactions and replies
//!    only see what is above the horizon (the Postgres queries filter on
//!    it), so the rows still in the partition are invisible;
//! 3. `DETACH PARTITION … CONCURRENTLY`, which waits for the transactions
//!    that may still read it without blocking anyone, then `DROP TABLE`;
//! 4. delete the reactions, mentions and thread summaries of the dropped events (they have no
//!    foreign key to them; read only joined to their message, they were
//!    invisible already).
//!
//! Every step can be repeated: a run that stopped midway (an instance
//! killed) is finished by the next one, which also finds partitions left
//! detaching (`FINALIZE`) or detached but not dropped. Instances take turns
//! on a session advisory lock, held on a connection of its own that closes
//! (releasing it) whatever happens.

use async_trait::async_trait;
use sqlx::{Connection, PgConnection};

use super::PostgresStore;
use crate::store::retention::{DroppedPartition, LogPartitions, PartitionLayout};
use crate::store::{StoreResult, Timestamp};

/// Keys of the advisory lock the droppers take turns on (first key "PRLY",
/// as the refresh tokens' and `messages_add_partitions`'s).
const DROP_LOCK: (i32, i32) = (1_347_570_777, 9);

/// Tables named like a partition that are not one: detached by a run that
/// stopped before dropping them.
const LEFT_DETACHED: &str = "SELECT c.relname::text FROM pg_class c \
     WHERE c.relkind = 'r' AND NOT c.relispartition AND pg_table_is_visible(c.oid) \
       AND c.relname ~ '^messages_p[0-9]{8}t[0-9]{6}$' \
     ORDER BY c.relname";

/// A partition to drop and how far it got.
struct Expired {
    name: String,
    /// Its upper bound (None: detached already, bounds gone).
    ends_at: Option<Timestamp>,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Attached,
    Detaching,
    Detached,
}

/// What a partition holds, read before it goes.
struct Contents {
    rooms: Vec<i64>,
    max_seqs: Vec<i64>,
    events: i64,
    min_id: Option<i64>,
    max_id: Option<i64>,
}

#[async_trait]
impl LogPartitions for PostgresStore {
    async fn add_partitions(&self, layout: &PartitionLayout) -> StoreResult<u32> {
        let (added,): (i32,) = sqlx::query_as(
            "SELECT messages_add_partitions(make_interval(secs => $1), make_interval(secs => $2))",
        )
        .bind(layout.width.as_secs_f64())
        .bind(layout.ahead.as_secs_f64())
        .fetch_one(&self.pool)
        .await?;
        Ok(u32::try_from(added).unwrap_or(0))
    }

    async fn drop_partitions(&self, cutoff: Timestamp) -> StoreResult<Vec<DroppedPartition>> {
        // Most passes find nothing: ask on a pooled connection first.
        if expired_partitions(&mut *self.pool.acquire().await?, cutoff)
            .await?
            .is_empty()
        {
            return Ok(Vec::new());
        }
        // Detached from the pool: dropping it closes it, which releases the
        // session lock even if this future is cancelled midway.
        let mut conn = self.pool.acquire().await?.detach();
        let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1, $2)")
            .bind(DROP_LOCK.0)
            .bind(DROP_LOCK.1)
            .fetch_one(&mut conn)
            .await?;
        if !locked {
            return Ok(Vec::new());
        }
        let dropped = drop_expired(&mut conn, cutoff).await;
        let _ = conn.close().await;
        dropped
    }
}

/// What is to drop at `cutoff`: partitions left detached first, then the
/// expired ones, oldest first.
async fn expired_partitions(
    conn: &mut PgConnection,
    cutoff: Timestamp,
) -> StoreResult<Vec<Expired>> {
    let left: Vec<(String,)> = sqlx::query_as(LEFT_DETACHED).fetch_all(&mut *conn).await?;
    let expired: Vec<(String, Timestamp, bool)> = sqlx::query_as(
        "SELECT name, ends_at, detaching FROM messages_partitions() \
         WHERE ends_at <= $1 ORDER BY ends_at",
    )
    .bind(cutoff)
    .fetch_all(&mut *conn)
    .await?;
    let left = left.into_iter().map(|(name,)| Expired {
        name,
        ends_at: None,
        state: State::Detached,
    });
    let expired = expired
        .into_iter()
        .map(|(name, ends_at, detaching)| Expired {
            name,
            ends_at: Some(ends_at),
            state: if detaching {
                State::Detaching
            } else {
                State::Attached
            },
        });
    Ok(left.chain(expired).collect())
}

/// Under the drop lock: the list is read again, another instance may have
/// dropped some meanwhile.
async fn drop_expired(
    conn: &mut PgConnection,
    cutoff: Timestamp,
) -> StoreResult<Vec<DroppedPartition>> {
    let mut dropped = Vec::new();
    for partition in expired_partitions(conn, cutoff).await? {
        dropped.push(drop_one(conn, &partition).await?);
    }
    Ok(dropped)
}

async fn drop_one(conn: &mut PgConnection, partition: &Expired) -> StoreResult<DroppedPartition> {
    let table = quote_ident(&partition.name);
    let contents = contents_of(conn, &table).await?;
    move_horizons(conn, partition.ends_at, &contents).await?;
    match partition.state {
        State::Attached => {
            simple(
                conn,
                format!("ALTER TABLE messages DETACH PARTITION {table} CONCURRENTLY"),
            )
            .await?;
        }
        State::Detaching => {
            simple(
                conn,
                format!("ALTER TABLE messages DETACH PARTITION {table} FINALIZE"),
            )
            .await?;
        }
        State::Detached => {}
    }
    simple(conn, format!("DROP TABLE {table}")).await?;
    forget_dropped(conn, &contents).await?;
    tracing::info!(
        partition = %partition.name,
        events = contents.events,
        rooms = contents.rooms.len(),
        "retention: dropped a partition of the room log"
    );
    Ok(DroppedPartition {
        name: partition.name.clone(),
        events: u64::try_from(contents.events).unwrap_or(0),
        rooms: contents.rooms.len(),
    })
}

/// Step 1: a read of the partition alone (an index-only scan of its
/// `(room_id, seq)` index).
async fn contents_of(conn: &mut PgConnection, table: &str) -> StoreResult<Contents> {
    let rows: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(&format!(
        "SELECT room_id, max(seq), count(*), min(id), max(id) FROM {table} GROUP BY room_id \
         ORDER BY room_id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    Ok(Contents {
        rooms: rows.iter().map(|r| r.0).collect(),
        max_seqs: rows.iter().map(|r| r.1).collect(),
        events: rows.iter().map(|r| r.2).sum(),
        min_id: rows.iter().map(|r| r.3).min(),
        max_id: rows.iter().map(|r| r.4).max(),
    })
}

/// Step 2. Stragglers are looked for above the partition's upper bound
/// (`ends_at`; None: the partition is detached already, so anywhere): per
/// room, the first seq there (an index probe per partition), and only rooms
/// with one at or below the horizon are deleted from.
async fn move_horizons(
    conn: &mut PgConnection,
    ends_at: Option<Timestamp>,
    contents: &Contents,
) -> StoreResult<()> {
    if contents.rooms.is_empty() {
        return Ok(());
    }
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT id FROM rooms WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(&contents.rooms)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE rooms r SET horizon_seq = GREATEST(r.horizon_seq, LEAST(p.max_seq, r.last_seq)) \
         FROM UNNEST($1::int8[], $2::int8[]) AS p(room_id, max_seq) WHERE r.id = p.room_id",
    )
    .bind(&contents.rooms)
    .bind(&contents.max_seqs)
    .execute(&mut *tx)
    .await?;
    let stragglers: Vec<(i64,)> = sqlx::query_as(
        "SELECT r.id FROM rooms r WHERE r.id = ANY($1) \
           AND (SELECT x.seq FROM messages x \
                WHERE x.room_id = r.id AND x.created_at >= COALESCE($2, '-infinity') \
                ORDER BY x.seq LIMIT 1) <= r.horizon_seq",
    )
    .bind(&contents.rooms)
    .bind(ends_at)
    .fetch_all(&mut *tx)
    .await?;
    if !stragglers.is_empty() {
        let rooms: Vec<i64> = stragglers.into_iter().map(|(id,)| id).collect();
        tracing::warn!(
            rooms = rooms.len(),
            "retention: events below the horizon in newer partitions (the database clock went \
             back?); deleting them"
        );
        sqlx::query(
            "DELETE FROM messages m USING rooms r \
             WHERE r.id = ANY($1) AND m.room_id = r.id AND m.seq <= r.horizon_seq \
               AND m.created_at >= COALESCE($2, '-infinity')",
        )
        .bind(&rooms)
        .bind(ends_at)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Step 4.
async fn forget_dropped(conn: &mut PgConnection, contents: &Contents) -> StoreResult<()> {
    if contents.rooms.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "DELETE FROM reactions x USING rooms r \
         WHERE r.id = ANY($1) AND x.room_id = r.id AND x.target_seq <= r.horizon_seq",
    )
    .bind(&contents.rooms)
    .execute(&mut *conn)
    .await?;
    // Their follows cascade.
    sqlx::query(
        "DELETE FROM threads x USING rooms r \
         WHERE r.id = ANY($1) AND x.room_id = r.id AND x.root_seq <= r.horizon_seq",
    )
    .bind(&contents.rooms)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM mentions x WHERE x.message_id BETWEEN $1 AND $2 \
           AND x.room_id = ANY($3) \
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = x.message_id)",
    )
    .bind(contents.min_id)
    .bind(contents.max_id)
    .bind(&contents.rooms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Runs `sql` as a simple query (outside any transaction block, which a
/// concurrent detach requires).
async fn simple(conn: &mut PgConnection, sql: String) -> StoreResult<()> {
    use sqlx::Executor;
    conn.execute(sqlx::raw_sql(&sql)).await?;
    Ok(())
}

/// `name` as a quoted SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::quote_ident;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(
            quote_ident("messages_p20261203t070343"),
            "\"messages_p20261203t070343\""
        );
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
