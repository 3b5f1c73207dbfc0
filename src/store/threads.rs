//! Reading threads and following them (README, "Threads"):
//! [`ThreadStore`], written once for both backends from [`ThreadQueries`].
//! Which thread a reply joins, a root's summary and who follows it because
//! of a message are decided when the message is stored (`plan/threads.rs`);
//! this module only reads them, and changes follows and thread read
//! markers on request. Every list is one indexed query: a room's threads by
//! `threads_room_latest_idx`, a thread's replies and a follower's unread
//! replies by `messages_thread_idx`, a user's follows by
//! `thread_follows_user_idx`.

use async_trait::async_trait;

use super::{Event, StoreResult};

/// A thread a user follows, with how many of its replies they have not
/// read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowedThread {
    pub root: Event,
    pub unread: i64,
}

/// A user's standing in a thread: whether they follow it, and their marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Following {
    pub last_read_seq: i64,
}

#[async_trait]
pub trait ThreadStore: Send + Sync + 'static {
    /// The room's threads with at least one reply not deleted, by latest
    /// reply, newest first: the roots with `last_reply_seq < before`, at
    /// most `limit + 1` (one more tells that there is more). Roots sent by
    /// users `viewer_id` blocks are left out.
    async fn room_threads(
        &self,
        room_id: i64,
        viewer_id: i64,
        before: i64,
        limit: i64,
    ) -> StoreResult<Vec<Event>>;
    /// The thread's replies with seq > `after`, ascending, at most `limit`.
    async fn replies(
        &self,
        room_id: i64,
        root_seq: i64,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<Event>>;
    /// Whether `user_id` follows the thread, and their marker.
    async fn following(
        &self,
        room_id: i64,
        root_seq: i64,
        user_id: i64,
    ) -> StoreResult<Option<Following>>;
    /// `user_id` follows the thread (nothing unread: the marker at its
    /// latest reply); one who follows already keeps their marker. False
    /// when the message is no thread's root.
    async fn follow(&self, room_id: i64, root_seq: i64, user_id: i64) -> StoreResult<bool>;
    /// `user_id` no longer follows the thread.
    async fn unfollow(&self, room_id: i64, root_seq: i64, user_id: i64) -> StoreResult<()>;
    /// The threads `user_id` follows in the rooms they belong to (with a
    /// reply not deleted, the root not sent by a user they block), by
    /// latest reply, newest first, at most `limit`; `unread`: replies after
    /// their marker, not deleted, not their own, not from users they block.
    /// Only those with unread replies, unless `with_read`.
    async fn followed_threads(
        &self,
        user_id: i64,
        limit: i64,
        with_read: bool,
    ) -> StoreResult<Vec<FollowedThread>>;
    /// Moves each `(room, root, user, seq)` marker to max(marker, min(seq,
    /// the thread's last reply)), in one transaction; answers the markers
    /// of those who follow, as they now are (`(room, root, user, marker)`).
    async fn mark_threads_read(
        &self,
        marks: &[(i64, i64, i64, i64)],
    ) -> StoreResult<Vec<(i64, i64, i64, i64)>>;
}

/// One backend's SQL for [`ThreadStore`].
pub(super) struct ThreadQueries {
    /// (room_id, viewer_id, before, limit) → `EventRow`s.
    pub room_threads: &'static str,
    /// (room_id, root_seq, after, limit) → `EventRow`s.
    pub replies: &'static str,
    /// (room_id, root_seq, user_id) → (last_read_seq).
    pub following: &'static str,
    /// (room_id, root_seq, user_id) → (root_seq) when the thread exists.
    pub follow: &'static str,
    /// (room_id, root_seq, user_id).
    pub unfollow: &'static str,
    /// (user_id, limit, with_read) → `UnreadEventRow`s.
    pub followed: &'static str,
    /// (room_id, root_seq, user_id, seq) → (last_read_seq).
    pub move_marker: &'static str,
}

/// Implements [`ThreadStore`] for `$store` from `$sql`, with timestamps
/// stored as `$time`.
macro_rules! impl_threads {
    (store: $store:ident, time: $time:ident, sql: $sql:ident $(,)?) => {
        mod threads_impl {
            use async_trait::async_trait;

            use super::$time as Stored;
            use super::{$sql, $store};
            use $crate::store::rows::{EventRow, UnreadEventRow};
            use $crate::store::threads::{FollowedThread, Following, ThreadStore};
            use $crate::store::{Backend, Event, StoreResult};

            impl $store {
                /// The events `sql` selects with these four parameters.
                async fn thread_events(
                    &self,
                    sql: &'static str,
                    params: [i64; 4],
                ) -> StoreResult<Vec<Event>> {
                    let rows: Vec<EventRow<Stored>> = params
                        .iter()
                        .fold(sqlx::query_as(sql), |q, p| q.bind(*p))
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows.into_iter().map(Into::into).collect())
                }
            }

            #[async_trait]
            impl ThreadStore for $store {
                async fn room_threads(
                    &self,
                    room_id: i64,
                    viewer_id: i64,
                    before: i64,
                    limit: i64,
                ) -> StoreResult<Vec<Event>> {
                    self.thread_events($sql.room_threads, [room_id, viewer_id, before, limit])
                        .await
                }

                async fn replies(
                    &self,
                    room_id: i64,
                    root_seq: i64,
                    after: i64,
                    limit: i64,
                ) -> StoreResult<Vec<Event>> {
                    self.thread_events($sql.replies, [room_id, root_seq, after, limit])
                        .await
                }

                async fn following(
                    &self,
                    room_id: i64,
                    root_seq: i64,
                    user_id: i64,
                ) -> StoreResult<Option<Following>> {
                    let row: Option<(i64,)> = sqlx::query_as($sql.following)
                        .bind(room_id)
                        .bind(root_seq)
                        .bind(user_id)
                        .fetch_optional(&self.pool)
                        .await?;
                    Ok(row.map(|(last_read_seq,)| Following { last_read_seq }))
                }

                async fn follow(
                    &self,
                    room_id: i64,
                    root_seq: i64,
                    user_id: i64,
                ) -> StoreResult<bool> {
                    let row: Option<(i64,)> = sqlx::query_as($sql.follow)
                        .bind(room_id)
                        .bind(root_seq)
                        .bind(user_id)
                        .fetch_optional(&self.pool)
                        .await?;
                    Ok(row.is_some())
                }

                async fn unfollow(
                    &self,
                    room_id: i64,
                    root_seq: i64,
                    user_id: i64,
                ) -> StoreResult<()> {
                    sqlx::query($sql.unfollow)
                        .bind(room_id)
                        .bind(root_seq)
                        .bind(user_id)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn followed_threads(
                    &self,
                    user_id: i64,
                    limit: i64,
                    with_read: bool,
                ) -> StoreResult<Vec<FollowedThread>> {
                    let rows: Vec<UnreadEventRow<Stored>> = sqlx::query_as($sql.followed)
                        .bind(user_id)
                        .bind(limit)
                        .bind(with_read)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows
                        .into_iter()
                        .map(|row| FollowedThread {
                            unread: row.unread,
                            root: row.event.into(),
                        })
                        .collect())
                }

                async fn mark_threads_read(
                    &self,
                    marks: &[(i64, i64, i64, i64)],
                ) -> StoreResult<Vec<(i64, i64, i64, i64)>> {
                    let mut tx = self.begin_write().await?;
                    let mut moved = Vec::with_capacity(marks.len());
                    for &(room_id, root_seq, user_id, seq) in marks {
                        let row: Option<(i64,)> = sqlx::query_as($sql.move_marker)
                            .bind(room_id)
                            .bind(root_seq)
                            .bind(user_id)
                            .bind(seq)
                            .fetch_optional(&mut *tx)
                            .await?;
                        if let Some((after,)) = row {
                            moved.push((room_id, root_seq, user_id, after));
                        }
                    }
                    tx.commit().await?;
                    Ok(moved)
                }
            }
        }
    };
}
pub(super) use impl_threads;
