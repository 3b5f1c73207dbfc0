//! A real store with knobs: a slow or failing `last_seq` (a database that
//! answers late or not at all), and a count of `append_batch` calls (the
//! transactions the committer opened).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use parley::domain::{RoomName, Username};
use parley::store::files::{Erasure, NewFile, StoredFile};
use parley::store::moderation::{Denial, Effect, MembershipRequest, Standing};
use parley::store::{
    Appended, ClosedAccount, Departure, DroppedPartition, DynStore, Event, FileStore, Found,
    HistoryPage, HistoryQuery, LogPartitions, MarkerMove, Member, MembershipStore, NewEvent,
    PartitionLayout, ProfileChange, ProfileStore, Pruned, ReadState, ReadStateStore,
    RetentionPolicy, RetentionStore, Room, RoomLog, RoomStore, Rotation, SearchQuery, SearchStore,
    SentMessage, ServerSettings, StoreError, StoreHealth, StoreResult, Timestamp, User, UserStore,
};

pub struct WrappedStore {
    inner: DynStore,
    /// Added before each `last_seq` read (then the real value is read).
    last_seq_delay_ms: AtomicU64,
    /// That many `last_seq` calls fail before they succeed again.
    last_seq_failures: AtomicUsize,
    pub last_seq_calls: AtomicUsize,
    pub append_batch_calls: AtomicUsize,
}

impl WrappedStore {
    pub fn new(inner: DynStore) -> Arc<Self> {
        Arc::new(WrappedStore {
            inner,
            last_seq_delay_ms: AtomicU64::new(0),
            last_seq_failures: AtomicUsize::new(0),
            last_seq_calls: AtomicUsize::new(0),
            append_batch_calls: AtomicUsize::new(0),
        })
    }

    pub fn delay_last_seq(&self, delay: Duration) {
        self.last_seq_delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn fail_last_seq(&self, times: usize) {
        self.last_seq_failures.store(times, Ordering::SeqCst);
    }
}

#[async_trait]
impl StoreHealth for WrappedStore {
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
    fn pool_stats(&self) -> (u32, usize) {
        self.inner.pool_stats()
    }
}

#[async_trait]
impl UserStore for WrappedStore {
    async fn create_user(&self, username: &Username, password_hash: &str) -> StoreResult<User> {
        self.inner.create_user(username, password_hash).await
    }
    async fn user_credentials(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        self.inner.user_credentials(username).await
    }
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        self.inner.user_by_name(username).await
    }
    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
        self.inner.user_by_id(id).await
    }
    async fn insert_refresh_token(
        &self,
        token_hash: &[u8],
        user_id: i64,
        family: &str,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        self.inner
            .insert_refresh_token(token_hash, user_id, family, expires_at)
            .await
    }
    async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        new_expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Rotation> {
        self.inner
            .rotate_refresh_token(old_hash, new_hash, new_expires_at, now)
            .await
    }
    async fn revoke_refresh_family(&self, token_hash: &[u8], now: Timestamp) -> StoreResult<bool> {
        self.inner.revoke_refresh_family(token_hash, now).await
    }
}

#[async_trait]
impl RoomStore for WrappedStore {
    async fn create_room(
        &self,
        name: &RoomName,
        private: bool,
        owner_id: i64,
    ) -> StoreResult<Room> {
        self.inner.create_room(name, private, owner_id).await
    }
    async fn room_by_name(&self, name: &RoomName) -> StoreResult<Option<Room>> {
        self.inner.room_by_name(name).await
    }
    async fn room_by_id(&self, id: i64) -> StoreResult<Option<Room>> {
        self.inner.room_by_id(id).await
    }
    async fn rooms_visible_to(&self, user_id: i64) -> StoreResult<Vec<Room>> {
        self.inner.rooms_visible_to(user_id).await
    }
}

#[async_trait]
impl ReadStateStore for WrappedStore {
    async fn read_states(
        &self,
        user_id: i64,
        username: &str,
        room_id: Option<i64>,
    ) -> StoreResult<Vec<ReadState>> {
        self.inner.read_states(user_id, username, room_id).await
    }
    async fn mark_read(&self, marks: &[(i64, i64, i64)]) -> StoreResult<Vec<MarkerMove>> {
        self.inner.mark_read(marks).await
    }
    async fn room_ids_of(&self, user_id: i64) -> StoreResult<Vec<i64>> {
        self.inner.room_ids_of(user_id).await
    }
}

#[async_trait]
impl MembershipStore for WrappedStore {
    async fn standing(&self, room_id: i64, user_id: i64) -> StoreResult<Standing> {
        self.inner.standing(room_id, user_id).await
    }
    async fn members(&self, room_id: i64) -> StoreResult<Vec<Member>> {
        self.inner.members(room_id).await
    }
    async fn member(&self, room_id: i64, user_id: i64) -> StoreResult<Option<Member>> {
        self.inner.member(room_id, user_id).await
    }
    async fn bans(&self, room_id: i64) -> StoreResult<Vec<User>> {
        self.inner.bans(room_id).await
    }
    async fn moderate(
        &self,
        room_id: i64,
        actor_id: i64,
        target_id: i64,
        action: MembershipRequest,
    ) -> StoreResult<Result<Effect, Denial>> {
        self.inner
            .moderate(room_id, actor_id, target_id, action)
            .await
    }
    async fn open_direct(&self, a: i64, b: i64) -> StoreResult<(Room, bool)> {
        self.inner.open_direct(a, b).await
    }
    async fn block(&self, blocker_id: i64, blocked_id: i64) -> StoreResult<()> {
        self.inner.block(blocker_id, blocked_id).await
    }
    async fn unblock(&self, blocker_id: i64, blocked_id: i64) -> StoreResult<()> {
        self.inner.unblock(blocker_id, blocked_id).await
    }
    async fn blocks(&self, blocker_id: i64) -> StoreResult<Vec<User>> {
        self.inner.blocks(blocker_id).await
    }
    async fn blocked_names(&self, blocker_id: i64) -> StoreResult<Vec<String>> {
        self.inner.blocked_names(blocker_id).await
    }
    async fn is_blocked(&self, blocker_id: i64, blocked_id: i64) -> StoreResult<bool> {
        self.inner.is_blocked(blocker_id, blocked_id).await
    }
}

#[async_trait]
impl RoomLog for WrappedStore {
    async fn append_batch(&self, batch: &[NewEvent]) -> StoreResult<Vec<Appended>> {
        self.append_batch_calls.fetch_add(1, Ordering::SeqCst);
        self.inner.append_batch(batch).await
    }
    async fn history(&self, room_id: i64, query: HistoryQuery) -> StoreResult<HistoryPage> {
        self.inner.history(room_id, query).await
    }
    async fn event(&self, room_id: i64, seq: i64) -> StoreResult<Option<Event>> {
        self.inner.event(room_id, seq).await
    }
    async fn last_seq(&self, room_id: i64) -> StoreResult<i64> {
        self.last_seq_calls.fetch_add(1, Ordering::SeqCst);
        let delay = self.last_seq_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let failing = self
            .last_seq_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(StoreError::Database(sqlx::Error::PoolTimedOut));
        }
        self.inner.last_seq(room_id).await
    }
    async fn last_seqs(&self, room_ids: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
        self.inner.last_seqs(room_ids).await
    }
}

#[async_trait]
impl SearchStore for WrappedStore {
    async fn search(&self, user_id: i64, query: &SearchQuery) -> StoreResult<Found> {
        self.inner.search(user_id, query).await
    }
    async fn mentions_of(
        &self,
        user_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Found> {
        self.inner.mentions_of(user_id, before, limit).await
    }
}

#[async_trait]
impl RetentionStore for WrappedStore {
    async fn rooms_to_prune(
        &self,
        policy: &RetentionPolicy,
        now: Timestamp,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<i64>> {
        self.inner.rooms_to_prune(policy, now, after, limit).await
    }
    async fn prune_room(
        &self,
        room_id: i64,
        policy: &RetentionPolicy,
        now: Timestamp,
        batch: i64,
    ) -> StoreResult<Option<Pruned>> {
        self.inner.prune_room(room_id, policy, now, batch).await
    }
}

#[async_trait]
impl LogPartitions for WrappedStore {
    async fn add_partitions(&self, layout: &PartitionLayout) -> StoreResult<u32> {
        self.inner.add_partitions(layout).await
    }
    async fn drop_partitions(&self, cutoff: Timestamp) -> StoreResult<Vec<DroppedPartition>> {
        self.inner.drop_partitions(cutoff).await
    }
}

#[async_trait]
impl ServerSettings for WrappedStore {
    async fn keep_setting(&self, name: &str, proposed: &str) -> StoreResult<String> {
        self.inner.keep_setting(name, proposed).await
    }
}

#[async_trait]
impl ProfileStore for WrappedStore {
    async fn name_reserved(&self, username: &str) -> StoreResult<bool> {
        self.inner.name_reserved(username).await
    }
    async fn update_profile(
        &self,
        user_id: i64,
        change: &ProfileChange,
    ) -> StoreResult<Option<User>> {
        self.inner.update_profile(user_id, change).await
    }
    async fn expect_avatar(&self, key: &str, user_id: i64, due: Timestamp) -> StoreResult<()> {
        self.inner.expect_avatar(key, user_id, due).await
    }
    async fn set_avatar(
        &self,
        user_id: i64,
        key: Option<&str>,
    ) -> StoreResult<Option<(User, Option<String>)>> {
        self.inner.set_avatar(user_id, key).await
    }
    async fn memberships_of(&self, user_id: i64) -> StoreResult<Vec<Room>> {
        self.inner.memberships_of(user_id).await
    }
    async fn messages_of(&self, user_id: i64, after: i64, limit: i64) -> StoreResult<Vec<Event>> {
        self.inner.messages_of(user_id, after, limit).await
    }
    async fn messages_to_erase(
        &self,
        user_id: i64,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<SentMessage>> {
        self.inner.messages_to_erase(user_id, after, limit).await
    }
    async fn room_peers(&self, user_id: i64) -> StoreResult<Vec<i64>> {
        self.inner.room_peers(user_id).await
    }
    async fn close_account(&self, user_id: i64) -> StoreResult<Option<ClosedAccount>> {
        self.inner.close_account(user_id).await
    }
    async fn depart(&self, room_id: i64, user_id: i64) -> StoreResult<Departure> {
        self.inner.depart(room_id, user_id).await
    }
    async fn mark_erased(&self, user_id: i64) -> StoreResult<()> {
        self.inner.mark_erased(user_id).await
    }
    async fn erasures_pending(&self) -> StoreResult<Vec<(i64, String)>> {
        self.inner.erasures_pending().await
    }
}

#[async_trait]
impl FileStore for WrappedStore {
    async fn reserve_upload(
        &self,
        file_id: &str,
        user_id: i64,
        bytes: i64,
        quota: i64,
        abandon_at: Timestamp,
    ) -> StoreResult<bool> {
        self.inner
            .reserve_upload(file_id, user_id, bytes, quota, abandon_at)
            .await
    }
    async fn finish_upload(
        &self,
        file: &NewFile,
        reserved: i64,
    ) -> StoreResult<Option<StoredFile>> {
        self.inner.finish_upload(file, reserved).await
    }
    async fn abandon_upload(&self, file_id: &str, objects_removed: bool) -> StoreResult<()> {
        self.inner.abandon_upload(file_id, objects_removed).await
    }
    async fn file(&self, file_id: &str) -> StoreResult<Option<StoredFile>> {
        self.inner.file(file_id).await
    }
    async fn erase_user_files(&self, user_id: i64) -> StoreResult<u64> {
        self.inner.erase_user_files(user_id).await
    }
    async fn expire_files(&self, unattached_before: Timestamp) -> StoreResult<u64> {
        self.inner.expire_files(unattached_before).await
    }
    async fn claim_erasures(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<Erasure>> {
        self.inner.claim_erasures(now, lease_until, limit).await
    }
    async fn finish_erasures(&self, ids: &[i64]) -> StoreResult<()> {
        self.inner.finish_erasures(ids).await
    }
    async fn file_bytes(&self, user_id: i64) -> StoreResult<i64> {
        self.inner.file_bytes(user_id).await
    }
}
