//! The local fan-out hub: rooms → local subscribers, with a per-room
//! sequencer. Messages may reach the hub out of order or twice (two
//! publishers racing after their commits, a relay echoing this instance's
//! own messages, a late relay); the sequencer hands subscribers each seq
//! exactly once and in order. A hole that does not close by itself within
//! [`GAP_WAIT`] is filled from the database, where every published message
//! already is (publish happens after commit).
//!
//! A room's live stream starts right after the seq stored when it gained its
//! first local subscriber. Every `subscribe` returns only once that start is
//! known (a subscriber joining while it is being read waits too), and a
//! failed read is retried, never taken as "the room is empty".
//!
//! With a relay between instances, a message can also be lost on the way
//! without any later message revealing the hole (the last one of a burst):
//! [`Hub::check_quiet_rooms`] compares every quiet room with the database
//! every [`QUIET_CHECK_EVERY`], in one query for all of them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::watch;
use tokio::time::Instant;

use super::presence::{Change as PresenceChange, Local, Presence};
use super::{Delivery, Published, RevokeReason, Signal, Subscriber, SubscriberKey, Viewers};
use crate::replay::{self, Replay};
use crate::store::{DynStore, StoreResult};
use crate::views::Activity;
use bytes::Bytes;

/// How long a hole in a room's seq may stay open before it is fetched.
pub const GAP_WAIT: Duration = Duration::from_millis(250);
/// How often quiet rooms are compared with the database (relay only).
pub const QUIET_CHECK_EVERY: Duration = Duration::from_secs(2);
/// A room that delivered nothing for this long is quiet.
const QUIET_AFTER: Duration = Duration::from_secs(1);
/// Rooms per `last_seqs` query of a quiet check.
const QUIET_CHECK_CHUNK: usize = 500;
/// Held out-of-order messages per room before a fetch is forced.
const MAX_PENDING: usize = 4096;
/// Pages read per resync (bounds the work after a long outage; the hole
/// left beyond it is filled as later messages arrive).
const MAX_RESYNC_PAGES: usize = 50;
/// Retry delays when a room's starting seq cannot be read.
const START_RETRY_FIRST: Duration = Duration::from_millis(50);
const START_RETRY_MAX: Duration = Duration::from_secs(2);

/// The hub's state of one room with local subscribers: its sequencer
/// (`next`, `pending`, the gap fill) and whom it fans out to.
struct RoomFanOut {
    /// Tells this room apart from an earlier one of the same id (emptied
    /// and created again while its start was being read).
    generation: u64,
    /// The seq the subscribers expect next; None until read from the store.
    next: Option<i64>,
    /// Turns true once `next` is known; subscribers wait for it.
    started: watch::Sender<bool>,
    /// Messages that arrived ahead of `next`.
    pending: BTreeMap<i64, Arc<Published>>,
    subscribers: Vec<(SubscriberKey, Subscriber)>,
    fill_scheduled: bool,
    /// When `next` last moved (or the room started).
    last_progress: Instant,
}

type RoomWatcher = Box<dyn Fn(i64, bool) + Send + Sync>;

pub struct Hub {
    store: DynStore,
    rooms: Mutex<HashMap<i64, RoomFanOut>>,
    /// The users connected here, as blocking sees them.
    pub viewers: Viewers,
    /// Read on every SEND (the connections' room check), written rarely.
    revocations: RwLock<Revocations>,
    next_key: AtomicU64,
    next_generation: AtomicU64,
    /// Called with a room id when it gains its first / loses its last local
    /// subscriber (the Redis relay subscribes to the room's channel then).
    /// Called under the hub lock, so calls for one room arrive in the order
    /// of the room's changes.
    on_room_change: Option<RoomWatcher>,
    /// Who is online (README, "Read markers, unread counts, typing and
    /// presence").
    pub presence: Presence,
    /// Told when a user's first connection here opens or their last one
    /// closes (the Redis relay tells the other instances).
    on_presence: OnceLock<PresenceWatcher>,
    /// Told each `UserUpdate` signal (the user destination's listeners).
    on_user_update: OnceLock<UserUpdateWatcher>,
}

type PresenceWatcher = Box<dyn Fn(i64, &str, bool) + Send + Sync>;
type UserUpdateWatcher = Box<dyn Fn(&[i64], &serde_json::Value) + Send + Sync>;

/// Keeps its user online while held (a WebSocket after CONNECTED, an event
/// stream).
pub struct PresenceGuard {
    hub: Arc<Hub>,
    user_id: i64,
    username: String,
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        let local = self.hub.presence.depart(self.user_id, &self.username);
        self.hub
            .presence_moved(self.user_id, &self.username, false, local);
    }
}

/// Unregisters a subscriber whose `subscribe` call was abandoned before it
/// returned (its caller went away while the start was being read).
struct Registration<'a> {
    hub: &'a Hub,
    room_id: i64,
    key: Option<SubscriberKey>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.hub.unsubscribe(self.room_id, key);
        }
    }
}

impl Hub {
    pub fn new(store: DynStore) -> Arc<Self> {
        Arc::new(Self::build(store, None))
    }

    /// A hub that reports rooms gaining their first (`true`) and losing
    /// their last (`false`) local subscriber. `watcher` runs under the hub's
    /// lock: it must only hand the change on (say, to a channel).
    pub fn with_room_watcher(
        store: DynStore,
        watcher: impl Fn(i64, bool) + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self::build(store, Some(Box::new(watcher))))
    }

    fn build(store: DynStore, on_room_change: Option<RoomWatcher>) -> Self {
        Hub {
            viewers: Viewers::new(Arc::clone(&store)),
            revocations: RwLock::new(Revocations::default()),
            store,
            rooms: Mutex::new(HashMap::new()),
            next_key: AtomicU64::new(1),
            next_generation: AtomicU64::new(1),
            on_room_change,
            presence: Presence::new(uuid::Uuid::new_v4().simple().to_string()),
            on_presence: OnceLock::new(),
            on_user_update: OnceLock::new(),
        }
    }

    /// Reports each user's first connection here opening and last one
    /// closing to `watcher` (called from connection tasks: it must only
    /// hand the change on).
    pub fn watch_presence(&self, watcher: impl Fn(i64, &str, bool) + Send + Sync + 'static) {
        let _ = self.on_presence.set(Box::new(watcher));
    }

    /// Hands every `UserUpdate` signal, from this instance or another, to
    /// `watcher`, in signal order (it must only queue).
    pub fn watch_user_updates(
        &self,
        watcher: impl Fn(&[i64], &serde_json::Value) + Send + Sync + 'static,
    ) {
        let _ = self.on_user_update.set(Box::new(watcher));
    }

    /// A `UserUpdate` signal arrived.
    pub fn user_update(&self, users: &[i64], update: &serde_json::Value) {
        if let Some(watch) = self.on_user_update.get() {
            watch(users, update);
        }
    }

    /// `user_id` opened a connection here: online until the guard drops.
    pub fn arrive(self: &Arc<Self>, user_id: i64, username: &str) -> PresenceGuard {
        let local = self.presence.arrive(user_id, username);
        self.presence_moved(user_id, username, true, local);
        PresenceGuard {
            hub: Arc::clone(self),
            user_id,
            username: username.to_string(),
        }
    }

    fn presence_moved(self: &Arc<Self>, user_id: i64, username: &str, online: bool, local: Local) {
        if local.here
            && let Some(watch) = self.on_presence.get()
        {
            watch(user_id, username, online);
        }
        if let Some(change) = local.anywhere {
            self.announce_presence(vec![change]);
        }
    }

    /// Tells the rooms of each user whose presence changed, on this
    /// instance (every instance announces to its own subscribers): one
    /// query per user for their rooms, however many they are in.
    pub fn announce_presence(self: &Arc<Self>, changes: Vec<PresenceChange>) {
        if changes.is_empty() {
            return;
        }
        let hub = Arc::clone(self);
        tokio::spawn(async move {
            for change in changes {
                let rooms = match hub.store.room_ids_of(change.user_id).await {
                    Ok(rooms) => rooms,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading a user's rooms for presence failed");
                        continue;
                    }
                };
                let activity = Activity::Presence {
                    user: change.username.clone(),
                    online: change.online,
                };
                for room_id in rooms {
                    hub.deliver_activity(room_id, &activity);
                }
            }
        });
    }

    /// Rooms with local subscribers.
    pub fn rooms(&self) -> Vec<i64> {
        self.rooms
            .lock()
            .expect("hub lock")
            .keys()
            .copied()
            .collect()
    }

    /// Registers `subscriber`; returns once the room's live stream has a
    /// known start, so every message committed after this returns is
    /// delivered to it. While the starting seq cannot be read (the database
    /// is away) it keeps retrying; a caller that gives up simply drops the
    /// future, which unregisters the subscriber.
    pub async fn subscribe(
        self: &Arc<Self>,
        room_id: i64,
        subscriber: Subscriber,
    ) -> SubscriberKey {
        let key = SubscriberKey(self.next_key.fetch_add(1, Ordering::Relaxed));
        let (mut started, new_generation) = {
            let mut rooms = self.rooms.lock().expect("hub lock");
            let mut new_generation = None;
            let room = rooms.entry(room_id).or_insert_with(|| {
                let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
                new_generation = Some(generation);
                RoomFanOut {
                    generation,
                    next: None,
                    started: watch::channel(false).0,
                    pending: BTreeMap::new(),
                    subscribers: Vec::new(),
                    fill_scheduled: false,
                    last_progress: Instant::now(),
                }
            });
            room.subscribers.push((key, subscriber));
            if new_generation.is_some()
                && let Some(watch) = &self.on_room_change
            {
                watch(room_id, true);
            }
            (room.started.subscribe(), new_generation)
        };
        let mut registration = Registration {
            hub: self,
            room_id,
            key: Some(key),
        };
        if let Some(generation) = new_generation {
            // In a task of its own: the room's other subscribers wait for it
            // too, whatever becomes of this call.
            tokio::spawn(Arc::clone(self).read_start(room_id, generation));
        }
        // Err: the room was emptied meanwhile (only by this subscriber's
        // own unsubscribe, which cannot run before this returns).
        let _ = started.wait_for(|known| *known).await;
        registration.key = None;
        key
    }

    /// Reads the room's last stored seq (retrying with a capped backoff
    /// while the room still has subscribers) and starts its live stream
    /// right after it. Messages that arrived meanwhile wait in `pending`.
    async fn read_start(self: Arc<Self>, room_id: i64, generation: u64) {
        let mut retry_in = START_RETRY_FIRST;
        loop {
            let read = self.store.last_seq(room_id).await;
            let error = {
                let mut rooms = self.rooms.lock().expect("hub lock");
                let Some(room) = rooms
                    .get_mut(&room_id)
                    .filter(|r| r.generation == generation && r.next.is_none())
                else {
                    return; // emptied (and maybe created again) meanwhile
                };
                match read {
                    Ok(last) => {
                        room.next = Some(last + 1);
                        room.pending = room.pending.split_off(&(last + 1));
                        room.last_progress = Instant::now();
                        room.started.send_replace(true);
                        self.drain(room_id, room);
                        return;
                    }
                    Err(e) => e,
                }
            };
            tracing::warn!(room_id, error = %error, retry_in_ms = retry_in.as_millis() as u64,
                "cannot read the room's last seq; its subscribers wait");
            tokio::time::sleep(retry_in).await;
            retry_in = (retry_in * 2).min(START_RETRY_MAX);
        }
    }

    pub fn unsubscribe(&self, room_id: i64, key: SubscriberKey) {
        let mut rooms = self.rooms.lock().expect("hub lock");
        let Some(room) = rooms.get_mut(&room_id) else {
            return;
        };
        room.subscribers.retain(|(k, _)| *k != key);
        if room.subscribers.is_empty() {
            rooms.remove(&room_id);
            if let Some(watch) = &self.on_room_change {
                watch(room_id, false);
            }
        }
    }

    /// Acts on a signal from this instance or another.
    pub async fn apply(self: &Arc<Self>, signal: &Signal) {
        match signal {
            Signal::Revoked {
                room_id,
                room,
                user_id,
                reason,
            } => self.revoke(*room_id, room, *user_id, *reason),
            Signal::Blocks { user_id } => self.viewers.reload(*user_id).await,
            Signal::Presence {
                instance,
                user_id,
                username,
                online,
            } => {
                let change = self.presence.remote(instance, *user_id, username, *online);
                self.announce_presence(change.into_iter().collect());
            }
            Signal::UserUpdate { users, update } => self.user_update(users, update),
        }
    }

    /// `user_id` (everyone, when None) lost access to the room: each of
    /// their subscribers of it gets a last `access_revoked` and is dropped
    /// from the room, under the lock that orders deliveries, so nothing
    /// reaches them after it. Recorded first, so a connection that checks
    /// [`Hub::revoked_since`] after this never takes the room as open.
    pub fn revoke(&self, room_id: i64, room: &str, user_id: Option<i64>, reason: RevokeReason) {
        self.revocations
            .write()
            .expect("revocations lock")
            .record(room_id, user_id);
        let notice = Arc::new(Published::revoked(room_id, room, reason));
        let mut rooms = self.rooms.lock().expect("hub lock");
        let Some(fan_out) = rooms.get_mut(&room_id) else {
            return;
        };
        fan_out.subscribers.retain(|(_, s)| {
            if user_id.is_some_and(|u| u != s.viewer.user_id) {
                return true;
            }
            let delivery = Delivery {
                message: Arc::clone(&notice),
                recipient: Arc::clone(&s.recipient),
            };
            if let Err(TrySendError::Full(_)) = s.queue.try_send(delivery) {
                s.overflow.notify_one();
            }
            false
        });
        if fan_out.subscribers.is_empty() {
            rooms.remove(&room_id);
            if let Some(watch) = &self.on_room_change {
                watch(room_id, false);
            }
        }
    }

    /// After the relay was away, revocations may have been missed: every
    /// room with local subscribers is checked against the database (a few
    /// queries per room), and whoever lost access meanwhile is cut off as
    /// if the signal had come: a deleted room for everyone, a banned user,
    /// a private room's former member. (A former member of a public room
    /// may read it anyway; the next signal about them still applies.)
    pub async fn recheck_access(self: &Arc<Self>) {
        let rooms: Vec<(i64, Box<str>, Vec<i64>)> = {
            let rooms = self.rooms.lock().expect("hub lock");
            rooms
                .iter()
                .filter_map(|(&id, r)| {
                    let (_, first) = r.subscribers.first()?;
                    let mut users: Vec<i64> = r
                        .subscribers
                        .iter()
                        .map(|(_, s)| s.viewer.user_id)
                        .collect();
                    users.sort_unstable();
                    users.dedup();
                    Some((id, first.recipient.room.clone(), users))
                })
                .collect()
        };
        for (room_id, name, users) in rooms {
            if let Err(e) = self.recheck_room(room_id, &name, &users).await {
                tracing::warn!(room_id, error = %e, "rechecking access failed");
            }
        }
    }

    async fn recheck_room(&self, room_id: i64, name: &str, users: &[i64]) -> StoreResult<()> {
        let Some(room) = self.store.room_by_id(room_id).await? else {
            self.revoke(room_id, name, None, RevokeReason::RoomDeleted);
            return Ok(());
        };
        let banned: HashSet<i64> = self
            .store
            .bans(room_id)
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect();
        let members: HashSet<i64> = if room.private {
            let members = self.store.members(room_id).await?;
            members.into_iter().map(|m| m.user.id).collect()
        } else {
            HashSet::new()
        };
        for &user in users {
            if banned.contains(&user) {
                self.revoke(room_id, name, Some(user), RevokeReason::Banned);
            } else if room.private && !members.contains(&user) {
                self.revoke(room_id, name, Some(user), RevokeReason::Removed);
            }
        }
        Ok(())
    }

    /// Where the record of revocations stands now.
    pub fn revocation_mark(&self) -> u64 {
        self.revocations.read().expect("revocations lock").mark
    }

    /// Whether `user_id` lost access to `room_id` since `mark`.
    pub fn revoked_since(&self, room_id: i64, user_id: i64, mark: u64) -> bool {
        let revocations = self.revocations.read().expect("revocations lock");
        if revocations.mark <= mark {
            return false; // nothing revoked since
        }
        [Some(user_id), None].into_iter().any(|who| {
            revocations
                .at
                .get(&(room_id, who))
                .is_some_and(|&m| m > mark)
        })
    }

    /// Hands an activity signal to the room's activity subscribers here
    /// (but those who block its user).
    pub fn deliver_activity(&self, room_id: i64, activity: &Activity) {
        let json = Bytes::from(activity.to_json());
        let mut rooms = self.rooms.lock().expect("hub lock");
        let Some(fan_out) = rooms.get_mut(&room_id) else {
            return;
        };
        let Some((_, first)) = fan_out.subscribers.iter().find(|(_, s)| s.activity) else {
            return;
        };
        let signal = Arc::new(Published::activity(
            room_id,
            &first.recipient.room,
            activity.event_type(),
            activity.user(),
            json,
        ));
        fan_out.subscribers.retain(|(_, s)| {
            if !s.activity || s.viewer.blocks(&signal.sender) {
                return true;
            }
            let delivery = Delivery {
                message: Arc::clone(&signal),
                recipient: Arc::clone(&s.recipient),
            };
            match s.queue.try_send(delivery) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    s.overflow.notify_one();
                    false
                }
                Err(TrySendError::Closed(_)) => false,
            }
        });
    }

    /// Hands a committed message to the room's subscribers, in seq order.
    pub fn deliver(self: &Arc<Self>, message: Arc<Published>) {
        let room_id = message.room_id;
        let mut rooms = self.rooms.lock().expect("hub lock");
        let Some(room) = rooms.get_mut(&room_id) else {
            return; // nobody here listens to this room
        };
        match room.next {
            Some(next) if message.seq < next => return, // already delivered
            None if room.pending.len() >= MAX_PENDING => {
                // Still reading the start: keep the newest; anything dropped
                // here is fetched from the store once the start is known.
                room.pending.pop_first();
            }
            _ => {}
        }
        room.pending.insert(message.seq, message);
        self.drain(room_id, room);
    }

    /// Delivers the in-order prefix of `pending`; schedules a fill when a
    /// hole remains.
    fn drain(self: &Arc<Self>, room_id: i64, room: &mut RoomFanOut) {
        let Some(mut next) = room.next else { return };
        while let Some(entry) = room.pending.first_entry() {
            if *entry.key() != next {
                break;
            }
            let message = entry.remove();
            fan_out(&mut room.subscribers, &message);
            next += 1;
        }
        if room.next != Some(next) {
            room.next = Some(next);
            room.last_progress = Instant::now();
        }
        if !room.pending.is_empty() && !room.fill_scheduled {
            room.fill_scheduled = true;
            let hub = Arc::clone(self);
            let wait = if room.pending.len() >= MAX_PENDING {
                Duration::ZERO
            } else {
                GAP_WAIT
            };
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                hub.fill_gap(room_id).await;
            });
        }
    }

    /// Re-reads from the store whatever the room's subscribers have not been
    /// handed yet (after the relay was away, or subscribed late).
    pub fn resync(self: &Arc<Self>, room_id: i64) {
        tokio::spawn(Arc::clone(self).catch_up(room_id));
    }

    /// Starts comparing quiet rooms with the database every
    /// [`QUIET_CHECK_EVERY`] (for as long as the hub exists). A relay
    /// starts it: a message lost on the way reaches the room's subscribers
    /// within a few seconds even if nothing follows it.
    pub fn check_quiet_rooms(self: &Arc<Self>) {
        let hub = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(QUIET_CHECK_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(hub) = Weak::upgrade(&hub) else {
                    return;
                };
                hub.check_quiet_rooms_once().await;
            }
        });
    }

    /// One pass: rooms whose live stream started and that delivered nothing
    /// for [`QUIET_AFTER`], then one `last_seqs` query per
    /// [`QUIET_CHECK_CHUNK`] of them; rooms behind the store are caught up.
    async fn check_quiet_rooms_once(self: &Arc<Self>) {
        let quiet: Vec<(i64, i64)> = {
            let rooms = self.rooms.lock().expect("hub lock");
            rooms
                .iter()
                .filter(|(_, r)| !r.fill_scheduled && r.last_progress.elapsed() >= QUIET_AFTER)
                .filter_map(|(&id, r)| r.next.map(|next| (id, next)))
                .collect()
        };
        for chunk in quiet.chunks(QUIET_CHECK_CHUNK) {
            let ids: Vec<i64> = chunk.iter().map(|&(id, _)| id).collect();
            let stored = match self.store.last_seqs(&ids).await {
                Ok(stored) => stored,
                Err(e) => {
                    tracing::warn!(error = %e, rooms = ids.len(), "quiet-room check failed");
                    return;
                }
            };
            let expected: HashMap<i64, i64> = chunk.iter().copied().collect();
            for (room_id, last) in stored {
                if expected.get(&room_id).is_some_and(|&next| last >= next) {
                    tracing::info!(room_id, last, "quiet room is behind the store; catching up");
                    self.resync(room_id);
                }
            }
        }
    }

    /// Delivers stored messages from the room's `next` seq on, page by page,
    /// until the store has no more (bounded by [`MAX_RESYNC_PAGES`]).
    async fn catch_up(self: Arc<Self>, room_id: i64) {
        let mut replay: Option<Replay> = None;
        for _ in 0..MAX_RESYNC_PAGES {
            let next = {
                let rooms = self.rooms.lock().expect("hub lock");
                match rooms.get(&room_id).and_then(|r| r.next) {
                    Some(next) => next,
                    None => return,
                }
            };
            let replay =
                replay.get_or_insert_with(|| Replay::after(self.store.clone(), room_id, next - 1));
            // Live messages may have moved `next` on since the last page.
            replay.skip_to(next - 1);
            match replay.next_page(replay::PAGE).await {
                Ok(Some(page)) => {
                    if let Some(horizon) = replay.passed_horizon() {
                        self.skip_pruned(room_id, horizon);
                    }
                    tracing::debug!(
                        room_id,
                        from = next,
                        count = page.len(),
                        "delivering from the store"
                    );
                    for m in &page {
                        self.deliver(Arc::new(Published::new(room_id, m)));
                    }
                    if replay.is_done() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(room_id, error = %e, "reading missed messages failed");
                    return;
                }
            }
        }
    }

    /// The events up to `horizon` were pruned (README, "Retention") before
    /// this instance's subscribers got them: they can no longer be had, so
    /// the room goes on from the one after.
    fn skip_pruned(self: &Arc<Self>, room_id: i64, horizon: i64) {
        let mut rooms = self.rooms.lock().expect("hub lock");
        let Some(room) = rooms.get_mut(&room_id) else {
            return;
        };
        if room.next.is_some_and(|next| next <= horizon) {
            tracing::info!(room_id, horizon, "missed events were pruned; skipping them");
            room.next = Some(horizon + 1);
            room.pending = room.pending.split_off(&(horizon + 1));
            self.drain(room_id, room);
        }
    }

    /// A hole stayed open: the messages it misses (and any after it) are in
    /// the store, since publishing follows commit. Fetch them all.
    async fn fill_gap(self: Arc<Self>, room_id: i64) {
        let open = {
            let mut rooms = self.rooms.lock().expect("hub lock");
            let Some(room) = rooms.get_mut(&room_id) else {
                return;
            };
            room.fill_scheduled = false;
            matches!((room.next, room.pending.keys().next()), (Some(next), Some(&first)) if first > next)
        };
        if !open {
            return;
        }
        Arc::clone(&self).catch_up(room_id).await;
        // Re-check: schedules another fill if a hole is still open (the
        // store was unreachable, say).
        let mut rooms = self.rooms.lock().expect("hub lock");
        if let Some(room) = rooms.get_mut(&room_id) {
            self.drain(room_id, room);
        }
    }
}

/// Every (room, user) that lost access, and when (a rising mark). Rooms
/// deleted are recorded with no user. Small: revocations are rare, and an
/// entry is a few words.
#[derive(Default)]
struct Revocations {
    mark: u64,
    at: HashMap<(i64, Option<i64>), u64>,
}

impl Revocations {
    fn record(&mut self, room_id: i64, user_id: Option<i64>) {
        self.mark += 1;
        self.at.insert((room_id, user_id), self.mark);
    }
}

/// Queues the message on every subscriber (as a `hidden` placeholder for
/// those who block its sender); a full queue marks that subscriber a slow
/// consumer (it is told, and dropped from the room).
fn fan_out(subscribers: &mut Vec<(SubscriberKey, Subscriber)>, message: &Arc<Published>) {
    metrics::histogram!(crate::metrics::COMMIT_TO_DELIVER)
        .record(message.born.elapsed().as_secs_f64());
    metrics::counter!(crate::metrics::DELIVERIES).increment(subscribers.len() as u64);
    let mut hidden: Option<Arc<Published>> = None;
    subscribers.retain(|(_, s)| {
        if s.activity {
            return true; // the room's log is not for them
        }
        let message = if s.viewer.blocks(&message.sender) {
            hidden.get_or_insert_with(|| Arc::new(message.to_hidden()))
        } else {
            message
        };
        let delivery = Delivery {
            message: Arc::clone(message),
            recipient: Arc::clone(&s.recipient),
        };
        match s.queue.try_send(delivery) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                s.overflow.notify_one();
                false
            }
            Err(TrySendError::Closed(_)) => false,
        }
    });
}
