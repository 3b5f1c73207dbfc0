//! The local fan-out hub: rooms → local subscribers, with a per-room
//! sequencer. Messages may reach the hub out of order or twice (two
//! publishers racing after their commits, a relay echoing this instance's
//! own messages, a late relay); the sequencer hands subscribers each seq
//! exactly once and in order. A hole that does not close by itself within
//! [`GAP_WAIT`] is filled from the database, where every published message
//! already is (publish happens after commit): [`super::gap`] reads it.
//!
//! A room's live stream starts right after the seq stored when it gained its
//! first local subscriber. Every `subscribe` returns only once that start is
//! known (a subscriber joining while it is being read waits too), and a
//! failed read is retried, never taken as "the room is empty".
//!
//! The hub knows nothing of features: services act on its subscribers
//! through [`Hub::deliver_activity`] (this instance only) and
//! [`Hub::cut_off`] (the last word of some subscriptions, under the lock
//! that orders deliveries).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

use super::gap::{self, Sequencer};
use super::published::{Audience, Published};
use super::subscriber::{Subscriber, SubscriberKey};
use crate::store::DynStore;
use crate::views::Activity;

/// How long a hole in a room's seq may stay open before it is fetched.
pub const GAP_WAIT: Duration = Duration::from_millis(250);
/// Held out-of-order messages per room before a fetch is forced.
const MAX_PENDING: usize = 4096;
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
    next_key: AtomicU64,
    next_generation: AtomicU64,
    /// Called with a room id when it gains its first / loses its last local
    /// subscriber (the Redis relay subscribes to the room's channel then).
    /// Called under the hub lock, so calls for one room arrive in the order
    /// of the room's changes.
    on_room_change: OnceLock<RoomWatcher>,
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

/// A room with local subscribers, and the users they deliver to.
pub struct RoomAudience {
    pub room_id: i64,
    pub room: Box<str>,
    /// Each user once.
    pub users: Vec<i64>,
}

impl Hub {
    pub(in crate::broker) fn new(store: DynStore) -> Arc<Self> {
        Arc::new(Hub {
            store,
            rooms: Mutex::new(HashMap::new()),
            next_key: AtomicU64::new(1),
            next_generation: AtomicU64::new(1),
            on_room_change: OnceLock::new(),
        })
    }

    /// Reports rooms gaining their first (`true`) and losing their last
    /// (`false`) local subscriber to `watcher` (set once, before anyone
    /// subscribes). It runs under the hub's lock: it must only hand the
    /// change on (say, to a channel).
    pub(in crate::broker) fn watch_rooms(
        &self,
        watcher: impl Fn(i64, bool) + Send + Sync + 'static,
    ) {
        let _ = self.on_room_change.set(Box::new(watcher));
    }

    fn room_changed(&self, room_id: i64, active: bool) {
        if let Some(watch) = self.on_room_change.get() {
            watch(room_id, active);
        }
    }

    /// Rooms with local subscribers.
    pub(in crate::broker) fn rooms(&self) -> Vec<i64> {
        self.lock().keys().copied().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, RoomFanOut>> {
        self.rooms.lock().expect("hub lock")
    }

    /// Registers `subscriber`; returns once the room's live stream has a
    /// known start, so every message committed after this returns is
    /// delivered to it. While the starting seq cannot be read (the database
    /// is away) it keeps retrying; a caller that gives up simply drops the
    /// future, which unregisters the subscriber.
    pub(in crate::broker) async fn subscribe(
        self: &Arc<Self>,
        room_id: i64,
        subscriber: Subscriber,
    ) -> SubscriberKey {
        let key = SubscriberKey(self.next_key.fetch_add(1, Ordering::Relaxed));
        let (mut started, new_generation) = {
            let mut rooms = self.lock();
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
            if new_generation.is_some() {
                self.room_changed(room_id, true);
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
                let mut rooms = self.lock();
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

    pub(in crate::broker) fn unsubscribe(&self, room_id: i64, key: SubscriberKey) {
        let mut rooms = self.lock();
        let Some(room) = rooms.get_mut(&room_id) else {
            return;
        };
        room.subscribers.retain(|(k, _)| *k != key);
        if room.subscribers.is_empty() {
            rooms.remove(&room_id);
            self.room_changed(room_id, false);
        }
    }

    /// Queues `last` on the room's subscribers whose user `whose` picks and
    /// drops them from the room, under the lock that orders deliveries, so
    /// nothing reaches them after it (an `access_revoked`).
    pub fn cut_off(&self, room_id: i64, last: Published, whose: impl Fn(&dyn Audience) -> bool) {
        let last = Arc::new(last);
        let mut rooms = self.lock();
        let Some(fan_out) = rooms.get_mut(&room_id) else {
            return;
        };
        fan_out.subscribers.retain(|(_, s)| {
            if !whose(s.audience.as_ref()) {
                return true;
            }
            s.offer(&last);
            false
        });
        if fan_out.subscribers.is_empty() {
            rooms.remove(&room_id);
            self.room_changed(room_id, false);
        }
    }

    /// Every room with local subscribers, with their users.
    pub fn audiences(&self) -> Vec<RoomAudience> {
        let rooms = self.lock();
        rooms
            .iter()
            .filter_map(|(&room_id, r)| {
                let (_, first) = r.subscribers.first()?;
                let mut users: Vec<i64> = r
                    .subscribers
                    .iter()
                    .map(|(_, s)| s.audience.user_id())
                    .collect();
                users.sort_unstable();
                users.dedup();
                Some(RoomAudience {
                    room_id,
                    room: first.recipient.room.clone(),
                    users,
                })
            })
            .collect()
    }

    /// Hands an activity signal to the room's activity subscribers here
    /// (but those who block its user).
    pub fn deliver_activity(&self, room_id: i64, activity: &Activity) {
        let json = Bytes::from(activity.to_json());
        let mut rooms = self.lock();
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
            if !s.activity || s.audience.blocks(&signal.sender) {
                return true;
            }
            s.offer(&signal)
        });
    }

    /// Hands a committed message to the room's subscribers, in seq order.
    pub(in crate::broker) fn deliver(self: &Arc<Self>, message: Arc<Published>) {
        let room_id = message.room_id;
        let mut rooms = self.lock();
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
    pub(in crate::broker) fn resync(self: &Arc<Self>, room_id: i64) {
        let hub = Arc::clone(self);
        tokio::spawn(async move { gap::catch_up(&hub, room_id).await });
    }

    /// The rooms whose live stream started and that delivered nothing for
    /// `quiet`, each with the seq it expects next.
    pub(in crate::broker) fn quiet_rooms(&self, quiet: Duration) -> Vec<(i64, i64)> {
        self.lock()
            .iter()
            .filter(|(_, r)| !r.fill_scheduled && r.last_progress.elapsed() >= quiet)
            .filter_map(|(&id, r)| r.next.map(|next| (id, next)))
            .collect()
    }

    /// A hole stayed open: the messages it misses (and any after it) are in
    /// the store, since publishing follows commit. Fetch them all.
    async fn fill_gap(self: Arc<Self>, room_id: i64) {
        let open = {
            let mut rooms = self.lock();
            let Some(room) = rooms.get_mut(&room_id) else {
                return;
            };
            room.fill_scheduled = false;
            matches!((room.next, room.pending.keys().next()), (Some(next), Some(&first)) if first > next)
        };
        if !open {
            return;
        }
        gap::catch_up(&self, room_id).await;
        // Re-check: schedules another fill if a hole is still open (the
        // store was unreachable, say).
        let mut rooms = self.lock();
        if let Some(room) = rooms.get_mut(&room_id) {
            self.drain(room_id, room);
        }
    }
}

impl Sequencer for Hub {
    fn store(&self) -> &DynStore {
        &self.store
    }

    fn next_seq(&self, room_id: i64) -> Option<i64> {
        self.lock().get(&room_id).and_then(|r| r.next)
    }

    fn deliver(self: &Arc<Self>, message: Arc<Published>) {
        Hub::deliver(self, message);
    }

    /// The events up to `horizon` were pruned (README, "Retention") before
    /// this instance's subscribers got them: they can no longer be had, so
    /// the room goes on from the one after.
    fn skip_pruned(self: &Arc<Self>, room_id: i64, horizon: i64) {
        let mut rooms = self.lock();
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
        let message = if s.audience.blocks(&message.sender) {
            hidden.get_or_insert_with(|| Arc::new(message.to_hidden()))
        } else {
            message
        };
        s.offer(message)
    });
}
