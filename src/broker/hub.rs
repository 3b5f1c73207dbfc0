//! The local fan-out hub: rooms → local subscribers, with a per-room
//! sequencer. Messages may reach the hub out of order or twice (two
//! publishers racing after their commits, a relay echoing this instance's
//! own messages, a late relay); the sequencer hands subscribers each seq
//! exactly once and in order. A hole that does not close by itself within
//! [`GAP_WAIT`] is filled from the database, where every published message
//! already is (publish happens after commit).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::error::TrySendError;

use super::{Delivery, Published, Subscriber, SubscriberKey};
use crate::store::{DynStore, HistoryQuery};

/// How long a hole in a room's seq may stay open before it is fetched.
pub const GAP_WAIT: Duration = Duration::from_millis(250);
/// Held out-of-order messages per room before a fetch is forced.
const MAX_PENDING: usize = 4096;
/// Largest page fetched per gap-fill query.
const FILL_PAGE: i64 = 200;
/// Pages read per resync (bounds the work after a long outage; the hole
/// left beyond it is filled as later messages arrive).
const MAX_RESYNC_PAGES: usize = 50;

struct Room {
    /// The seq the subscribers expect next; None until read from the store.
    next: Option<i64>,
    /// Messages that arrived ahead of `next`.
    pending: BTreeMap<i64, Arc<Published>>,
    subscribers: Vec<(SubscriberKey, Subscriber)>,
    fill_scheduled: bool,
}

pub struct Hub {
    store: DynStore,
    rooms: Mutex<HashMap<i64, Room>>,
    next_key: AtomicU64,
    /// Called with a room id when it gains its first / loses its last local
    /// subscriber (the Redis relay subscribes to the room's channel then).
    on_room_change: Option<Box<dyn Fn(i64, bool) + Send + Sync>>,
}

impl Hub {
    pub fn new(store: DynStore) -> Arc<Self> {
        Arc::new(Self::build(store, None))
    }

    /// A hub that reports rooms gaining their first (`true`) and losing
    /// their last (`false`) local subscriber.
    pub fn with_room_watcher(
        store: DynStore,
        watcher: impl Fn(i64, bool) + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self::build(store, Some(Box::new(watcher))))
    }

    fn build(
        store: DynStore,
        on_room_change: Option<Box<dyn Fn(i64, bool) + Send + Sync>>,
    ) -> Self {
        Hub {
            store,
            rooms: Mutex::new(HashMap::new()),
            next_key: AtomicU64::new(1),
            on_room_change,
        }
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

    pub async fn subscribe(
        self: &Arc<Self>,
        room_id: i64,
        subscriber: Subscriber,
    ) -> SubscriberKey {
        let key = SubscriberKey(self.next_key.fetch_add(1, Ordering::Relaxed));
        let is_new = {
            let mut rooms = self.rooms.lock().expect("hub lock");
            let mut is_new = false;
            let room = rooms.entry(room_id).or_insert_with(|| {
                is_new = true;
                Room {
                    next: None,
                    pending: BTreeMap::new(),
                    subscribers: Vec::new(),
                    fill_scheduled: false,
                }
            });
            room.subscribers.push((key, subscriber));
            is_new
        };
        if is_new {
            if let Some(watch) = &self.on_room_change {
                watch(room_id, true);
            }
            // Everything committed up to now is in the store; live delivery
            // starts right after it. Messages that arrived meanwhile wait in
            // `pending`.
            let last = match self.store.last_seq(room_id).await {
                Ok(last) => last,
                Err(e) => {
                    tracing::warn!(room_id, error = %e, "cannot read last seq; starting at the first message seen");
                    0
                }
            };
            let mut rooms = self.rooms.lock().expect("hub lock");
            if let Some(room) = rooms.get_mut(&room_id)
                && room.next.is_none()
            {
                room.next = Some(last + 1);
                room.pending = room.pending.split_off(&(last + 1));
                self.drain(room_id, room);
            }
        }
        key
    }

    pub fn unsubscribe(&self, room_id: i64, key: SubscriberKey) {
        let emptied = {
            let mut rooms = self.rooms.lock().expect("hub lock");
            let Some(room) = rooms.get_mut(&room_id) else {
                return;
            };
            room.subscribers.retain(|(k, _)| *k != key);
            if room.subscribers.is_empty() {
                rooms.remove(&room_id);
                true
            } else {
                false
            }
        };
        if emptied && let Some(watch) = &self.on_room_change {
            watch(room_id, false);
        }
    }

    /// Hands a committed message to the room's subscribers, in seq order.
    pub fn deliver(self: &Arc<Self>, message: Arc<Published>) {
        let room_id = message.room_id;
        let mut rooms = self.rooms.lock().expect("hub lock");
        let Some(room) = rooms.get_mut(&room_id) else {
            return; // nobody here listens to this room
        };
        if room.next.is_some_and(|next| message.seq < next) {
            return; // already delivered
        }
        room.pending.insert(message.seq, message);
        self.drain(room_id, room);
    }

    /// Delivers the in-order prefix of `pending`; schedules a fill when a
    /// hole remains.
    fn drain(self: &Arc<Self>, room_id: i64, room: &mut Room) {
        let Some(mut next) = room.next else { return };
        while let Some(entry) = room.pending.first_entry() {
            if *entry.key() != next {
                break;
            }
            let message = entry.remove();
            fan_out(&mut room.subscribers, &message);
            next += 1;
        }
        room.next = Some(next);
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

    /// Delivers stored messages from the room's `next` seq on, page by page,
    /// until the store has no more (bounded by [`MAX_RESYNC_PAGES`]).
    async fn catch_up(self: Arc<Self>, room_id: i64) {
        for _ in 0..MAX_RESYNC_PAGES {
            let next = {
                let rooms = self.rooms.lock().expect("hub lock");
                match rooms.get(&room_id).and_then(|r| r.next) {
                    Some(next) => next,
                    None => return,
                }
            };
            match self.fetch_and_deliver(room_id, next, FILL_PAGE).await {
                Some(true) => continue,
                _ => return,
            }
        }
    }

    /// Delivers up to `limit` stored messages from seq `from` on; Some(has_more).
    async fn fetch_and_deliver(
        self: &Arc<Self>,
        room_id: i64,
        from: i64,
        limit: i64,
    ) -> Option<bool> {
        let query = HistoryQuery {
            before: None,
            after: Some(from - 1),
            limit,
        };
        match self.store.history(room_id, query).await {
            Ok(page) => {
                tracing::debug!(
                    room_id,
                    from,
                    count = page.messages.len(),
                    "delivering from the store"
                );
                for m in &page.messages {
                    self.deliver(Arc::new(Published::new(room_id, m)));
                }
                Some(page.has_more)
            }
            Err(e) => {
                tracing::warn!(room_id, error = %e, "reading missed messages failed");
                None
            }
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

/// Queues the message on every subscriber; a full queue marks that
/// subscriber a slow consumer (it is told, and dropped from the room).
fn fan_out(subscribers: &mut Vec<(SubscriberKey, Subscriber)>, message: &Arc<Published>) {
    metrics::histogram!(crate::metrics::COMMIT_TO_DELIVER)
        .record(message.born.elapsed().as_secs_f64());
    metrics::counter!(crate::metrics::DELIVERIES).increment(subscribers.len() as u64);
    subscribers.retain(|(_, s)| {
        let delivery = Delivery {
            message: Arc::clone(message),
            subscriber: Arc::clone(&s.tag),
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
