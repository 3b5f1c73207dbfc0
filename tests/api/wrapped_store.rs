//! A real store with knobs: a slow or failing `last_seq` (a database that
//! answers late or not at all), a count of `append_batch` calls (the
//! transactions the committer opened) and of `take_lease` calls (the
//! webhook lease writes).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use parley::domain::{RoomName, Username};
use parley::store::files::{Erasure, NewFile, StoredFile};
use parley::store::moderation::{Denial, Effect, MembershipRequest, Standing};
use parley::store::webhooks::{Delivery, NewWebhook, Webhook, WebhookStore};
use parley::store::{
    AccountInfo, AccountStore, Appended, BotAccount, BotStore, ClaimedPush, ClosedAccount,
    CodeCheck, Departure, DroppedPartition, DynStore, EndLogins, Event, FileStore, Found,
    HistoryPage, HistoryQuery, LogPartitions, Login, LoginId, LoginStore, MailTokenStore,
    MarkerMove, Member, MembershipStore, NewEvent, NewMailToken, NewPushSubscription,
    PartitionLayout, ProfileChange, ProfileStore, Pruned, PushStore, PushSubscription, ReadState,
    ReadStateStore, RetentionPolicy, RetentionStore, Room, RoomLog, RoomStore, Rotation,
    SearchQuery, SearchStore, SentMessage, ServerSettings, StoreError, StoreHealth, StoreResult,
    Timestamp, TotpState, User, UserStore,
};
use parley::store::{FollowedThread, Following, ThreadStore};

pub struct WrappedStore {
    inner: DynStore,
    /// Added before each `last_seq` read (then the real value is read).
    last_seq_delay_ms: AtomicU64,
    /// That many `last_seq` calls fail before they succeed again.
    last_seq_failures: AtomicUsize,
    pub last_seq_calls: AtomicUsize,
    pub append_batch_calls: AtomicUsize,
    pub take_lease_calls: AtomicUsize,
}

impl WrappedStore {
    pub fn new(inner: DynStore) -> Arc<Self> {
        Arc::new(WrappedStore {
            inner,
            last_seq_delay_ms: AtomicU64::new(0),
            last_seq_failures: AtomicUsize::new(0),
            last_seq_calls: AtomicUsize::new(0),
            append_batch_calls: AtomicUsize::new(0),
            take_lease_calls: AtomicUsize::new(0),
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
impl parley::store::AdminStore for WrappedStore {
    async fn is_deactivated(&self, user_id: i64) -> StoreResult<bool> {
        self.inner.is_deactivated(user_id).await
    }
    async fn refresh_owner_deactivated(&self, token_hash: &[u8]) -> StoreResult<bool> {
        self.inner.refresh_owner_deactivated(token_hash).await
    }
    async fn set_deactivated(
        &self,
        actor_id: i64,
        target_id: i64,
        deactivated: bool,
    ) -> StoreResult<bool> {
        self.inner
            .set_deactivated(actor_id, target_id, deactivated)
            .await
    }
    async fn admin_users(
        &self,
        query: &parley::store::UserQuery,
    ) -> StoreResult<Vec<parley::store::AdminUser>> {
        self.inner.admin_users(query).await
    }
    async fn report(
        &self,
        room_id: i64,
        seq: i64,
        reporter_id: i64,
        reason: &str,
    ) -> StoreResult<(parley::store::Report, bool)> {
        self.inner.report(room_id, seq, reporter_id, reason).await
    }
    async fn report_by_id(&self, id: i64) -> StoreResult<Option<parley::store::Report>> {
        self.inner.report_by_id(id).await
    }
    async fn reports(
        &self,
        room_id: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<parley::store::Report>> {
        self.inner.reports(room_id, limit).await
    }
    async fn resolve_report(
        &self,
        id: i64,
        actor_id: i64,
        action: parley::store::ReportAction,
    ) -> StoreResult<Option<parley::store::Report>> {
        self.inner.resolve_report(id, actor_id, action).await
    }
    async fn audit_log(
        &self,
        room_id: Option<i64>,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<parley::store::AuditEntry>> {
        self.inner.audit_log(room_id, before, limit).await
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
    async fn mark_logins_used(&self, logins: &[LoginId], now: Timestamp) -> StoreResult<()> {
        self.inner.mark_logins_used(logins, now).await
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
impl PushStore for WrappedStore {
    async fn set_notifications(
        &self,
        room_id: i64,
        user_id: i64,
        level: Option<&str>,
        muted_until: Option<Timestamp>,
    ) -> StoreResult<bool> {
        self.inner
            .set_notifications(room_id, user_id, level, muted_until)
            .await
    }
    async fn add_push_subscription(
        &self,
        user_id: i64,
        new: NewPushSubscription<'_>,
        keep: i64,
    ) -> StoreResult<PushSubscription> {
        self.inner.add_push_subscription(user_id, new, keep).await
    }
    async fn push_subscriptions(&self, user_id: i64) -> StoreResult<Vec<PushSubscription>> {
        self.inner.push_subscriptions(user_id).await
    }
    async fn delete_push_subscription(&self, id: i64, user_id: Option<i64>) -> StoreResult<bool> {
        self.inner.delete_push_subscription(id, user_id).await
    }
    async fn claim_pushes(&self, limit: i64, lease_ms: i64) -> StoreResult<Vec<ClaimedPush>> {
        self.inner.claim_pushes(limit, lease_ms).await
    }
    async fn push_done(&self, id: i64) -> StoreResult<()> {
        self.inner.push_done(id).await
    }
    async fn push_retry(&self, id: i64, at: Timestamp) -> StoreResult<()> {
        self.inner.push_retry(id, at).await
    }
}

#[async_trait]
impl ThreadStore for WrappedStore {
    async fn room_threads(
        &self,
        room_id: i64,
        viewer_id: i64,
        before: i64,
        limit: i64,
    ) -> StoreResult<Vec<Event>> {
        self.inner
            .room_threads(room_id, viewer_id, before, limit)
            .await
    }
    async fn replies(
        &self,
        room_id: i64,
        root_seq: i64,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<Event>> {
        self.inner.replies(room_id, root_seq, after, limit).await
    }
    async fn following(
        &self,
        room_id: i64,
        root_seq: i64,
        user_id: i64,
    ) -> StoreResult<Option<Following>> {
        self.inner.following(room_id, root_seq, user_id).await
    }
    async fn follow(&self, room_id: i64, root_seq: i64, user_id: i64) -> StoreResult<bool> {
        self.inner.follow(room_id, root_seq, user_id).await
    }
    async fn unfollow(&self, room_id: i64, root_seq: i64, user_id: i64) -> StoreResult<()> {
        self.inner.unfollow(room_id, root_seq, user_id).await
    }
    async fn followed_threads(
        &self,
        user_id: i64,
        limit: i64,
        with_read: bool,
    ) -> StoreResult<Vec<FollowedThread>> {
        self.inner.followed_threads(user_id, limit, with_read).await
    }
    async fn mark_threads_read(
        &self,
        marks: &[(i64, i64, i64, i64)],
    ) -> StoreResult<Vec<(i64, i64, i64, i64)>> {
        self.inner.mark_threads_read(marks).await
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
    async fn close_account(
        &self,
        user_id: i64,
        closed_by: Option<i64>,
    ) -> StoreResult<Option<ClosedAccount>> {
        self.inner.close_account(user_id, closed_by).await
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

#[async_trait]
impl BotStore for WrappedStore {
    async fn create_bot(
        &self,
        owner_id: i64,
        username: &Username,
        token_hash: &[u8],
    ) -> StoreResult<User> {
        self.inner.create_bot(owner_id, username, token_hash).await
    }
    async fn bots_of(&self, owner_id: i64) -> StoreResult<Vec<User>> {
        self.inner.bots_of(owner_id).await
    }
    async fn bot_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<BotAccount>> {
        self.inner.bot_by_token(token_hash).await
    }
    async fn owned_bot(&self, owner_id: i64, username: &str) -> StoreResult<Option<User>> {
        self.inner.owned_bot(owner_id, username).await
    }
    async fn replace_bot_token(
        &self,
        bot_id: i64,
        token_hash: Option<&[u8]>,
        login: LoginId,
    ) -> StoreResult<()> {
        self.inner
            .replace_bot_token(bot_id, token_hash, login)
            .await
    }
}

#[async_trait]
impl WebhookStore for WrappedStore {
    async fn create_webhook(&self, new: &NewWebhook<'_>) -> StoreResult<Option<Webhook>> {
        self.inner.create_webhook(new).await
    }
    async fn webhooks_of(&self, room_id: i64) -> StoreResult<Vec<Webhook>> {
        self.inner.webhooks_of(room_id).await
    }
    async fn webhook(&self, id: i64) -> StoreResult<Option<Webhook>> {
        self.inner.webhook(id).await
    }
    async fn command_webhook(&self, room_id: i64, command: &str) -> StoreResult<Option<Webhook>> {
        self.inner.command_webhook(room_id, command).await
    }
    async fn delete_webhook(&self, room_id: i64, id: i64) -> StoreResult<bool> {
        self.inner.delete_webhook(room_id, id).await
    }
    async fn outgoing_webhooks(&self) -> StoreResult<Vec<(i64, i64)>> {
        self.inner.outgoing_webhooks().await
    }
    async fn trim_deliveries(&self, id: i64, keep: i64) -> StoreResult<()> {
        self.inner.trim_deliveries(id, keep).await
    }
    async fn take_lease(&self, id: i64, holder: &str, ttl_ms: i64) -> StoreResult<Option<Webhook>> {
        self.take_lease_calls.fetch_add(1, Ordering::SeqCst);
        self.inner.take_lease(id, holder, ttl_ms).await
    }
    async fn release_lease(&self, id: i64, holder: &str) -> StoreResult<()> {
        self.inner.release_lease(id, holder).await
    }
    async fn record_delivery(
        &self,
        id: i64,
        holder: &str,
        seq: i64,
        delivery: (bool, Option<i32>),
        done: bool,
    ) -> StoreResult<bool> {
        self.inner
            .record_delivery(id, holder, seq, delivery, done)
            .await
    }
    async fn advance_cursor(&self, id: i64, holder: &str, seq: i64) -> StoreResult<bool> {
        self.inner.advance_cursor(id, holder, seq).await
    }
    async fn deliveries(&self, id: i64, limit: i64) -> StoreResult<Vec<Delivery>> {
        self.inner.deliveries(id, limit).await
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
