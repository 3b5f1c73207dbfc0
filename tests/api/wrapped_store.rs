//! A real store with knobs: a slow or failing `last_seq` (a database that
//! answers late or not at all), and a count of `append_batch` calls (the
//! transactions the committer opened).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use parley::domain::{RoomName, Username};
use parley::store::moderation::{Denial, Effect, MembershipRequest, Standing};
use parley::store::{
    AccountInfo, AccountStore, Appended, CodeCheck, DroppedPartition, DynStore, EndLogins, Event,
    Found, HistoryPage, HistoryQuery, LogPartitions, Login, LoginId, LoginStore, MailTokenStore,
    MarkerMove, Member, MembershipStore, NewEvent, NewMailToken, PartitionLayout, Pruned,
    ReadState, ReadStateStore, RetentionPolicy, RetentionStore, Room, RoomLog, RoomStore, Rotation,
    SearchQuery, SearchStore, ServerSettings, StoreError, StoreHealth, StoreResult, Timestamp,
    TotpState, User, UserStore,
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
impl LoginStore for WrappedStore {
    async fn start_login(
        &self,
        user_id: i64,
        user_agent: Option<&str>,
        token_hash: &[u8],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<LoginId> {
        (self.inner)
            .start_login(user_id, user_agent, token_hash, expires_at, now)
            .await
    }
    async fn live_logins(&self, user_id: i64, now: Timestamp) -> StoreResult<Vec<Login>> {
        self.inner.live_logins(user_id, now).await
    }
    async fn end_logins(
        &self,
        user_id: i64,
        which: EndLogins,
        now: Timestamp,
    ) -> StoreResult<Vec<LoginId>> {
        self.inner.end_logins(user_id, which, now).await
    }
    async fn logins_ended_since(&self, since: Timestamp) -> StoreResult<Vec<(i64, LoginId)>> {
        self.inner.logins_ended_since(since).await
    }
    async fn login_of_refresh_token(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<(i64, LoginId)>> {
        self.inner.login_of_refresh_token(token_hash).await
    }
}

#[async_trait]
impl AccountStore for WrappedStore {
    async fn account_info(&self, user_id: i64) -> StoreResult<AccountInfo> {
        self.inner.account_info(user_id).await
    }
    async fn password_hash(&self, user_id: i64) -> StoreResult<Option<String>> {
        self.inner.password_hash(user_id).await
    }
    async fn set_password_hash(&self, user_id: i64, hash: &str) -> StoreResult<()> {
        self.inner.set_password_hash(user_id, hash).await
    }
    async fn totp_state(&self, user_id: i64) -> StoreResult<TotpState> {
        self.inner.totp_state(user_id).await
    }
    async fn set_totp_secret(&self, user_id: i64, secret: &[u8]) -> StoreResult<bool> {
        self.inner.set_totp_secret(user_id, secret).await
    }
    async fn enable_totp(
        &self,
        user_id: i64,
        step: i64,
        recovery_hashes: &[Vec<u8>],
    ) -> StoreResult<bool> {
        (self.inner)
            .enable_totp(user_id, step, recovery_hashes)
            .await
    }
    async fn use_totp_step(&self, user_id: i64, step: i64) -> StoreResult<bool> {
        self.inner.use_totp_step(user_id, step).await
    }
    async fn use_recovery_code(
        &self,
        user_id: i64,
        hash: &[u8],
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.inner.use_recovery_code(user_id, hash, now).await
    }
    async fn disable_totp(&self, user_id: i64) -> StoreResult<()> {
        self.inner.disable_totp(user_id).await
    }
}

#[async_trait]
impl MailTokenStore for WrappedStore {
    async fn issue_mail_token(&self, token: NewMailToken<'_>) -> StoreResult<bool> {
        self.inner.issue_mail_token(token).await
    }
    async fn check_email_code(
        &self,
        user_id: i64,
        matches: &(dyn for<'h> Fn(&'h [u8]) -> bool + Sync),
        now: Timestamp,
        max_attempts: u8,
    ) -> StoreResult<CodeCheck> {
        self.inner
            .check_email_code(user_id, matches, now, max_attempts)
            .await
    }
    async fn user_by_verified_email(&self, email: &str) -> StoreResult<Option<(i64, String)>> {
        self.inner.user_by_verified_email(email).await
    }
    async fn reset_token_live(&self, hash: &[u8], now: Timestamp) -> StoreResult<bool> {
        self.inner.reset_token_live(hash, now).await
    }
    async fn reset_password(
        &self,
        hash: &[u8],
        password_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<i64>> {
        self.inner.reset_password(hash, password_hash, now).await
    }
}
