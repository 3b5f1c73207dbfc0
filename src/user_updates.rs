//! The user destination (README, "Staying signed in"): what
//! changes a user's own room list, pushed to every connection of theirs on
//! every instance, over STOMP (`SUBSCRIBE /user/queue/updates`) and SSE
//! (`GET /api/v1/me/events`). Nothing is stored and nothing has a seq: a
//! client that reconnects reads `GET /rooms` again.
//!
//! A service on the broker (docs/ARCHITECTURE.md, "Services on the broker,
//! and adding a signal"), in two halves. Announcing: after a membership
//! change is committed, [`UserUpdates::room_added`], `room_removed` and
//! `room_updated` build the update (the room object exactly as
//! `GET /rooms/{name}` shows it to that user) and raise the service's own
//! signal, which every instance's handler applies in the order it arrives.
//! A profile change is announced the same way (`user_updated`, to those
//! who share a room with the user), so names and avatars shown in a
//! client follow it live.
//! Delivering: the service holds this instance's listeners per user; a
//! listener is a connection's bounded delivery queue, unregistered when
//! its [`Listening`] guard drops.
//! A full queue is a slow consumer, as for a room's messages.
//!
//! It must not decide who belongs to a room (`membership` and the store do)
//! and must not store anything.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Notify, mpsc};

use crate::broker::{Delivery, DynBroker, Published, Recipient, Signal};
use crate::revocation::RevokeReason;
use crate::stomp::EncodedMessage;
use crate::store::{DynStore, Room, StoreResult};
use crate::views::RoomView;

/// The one user destination a client may subscribe to.
pub const DESTINATION: &str = crate::destination::USER_UPDATES;

/// One change of a user's room list: the MESSAGE body and SSE `data:`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UserUpdate {
    /// The user joined the room, was added to it, or a direct conversation
    /// with them was opened: the room as they see it.
    RoomAdded { room: serde_json::Value },
    /// The room left the user's list (`left`, `removed`, `banned`,
    /// `room_deleted`).
    RoomRemoved { room: String, reason: RevokeReason },
    /// The room's name-level data changed for the user (their role, the
    /// room's privacy, their notification level): the room as they see it.
    RoomUpdated { room: serde_json::Value },
    /// A user who shares a room with them (or they themself) changed
    /// their profile: the `user` object as it now is (README, "Accounts").
    UserUpdated { user: serde_json::Value },
}

impl UserUpdate {
    /// `event-type` and SSE `event:`.
    pub fn event_type(&self) -> &'static str {
        match self {
            UserUpdate::RoomAdded { .. } => "room_added",
            UserUpdate::RoomRemoved { .. } => "room_removed",
            UserUpdate::RoomUpdated { .. } => "room_updated",
            UserUpdate::UserUpdated { .. } => "user_updated",
        }
    }
}

/// The event types an update may have, as `'static` names (an update
/// arriving from another instance names its type in its JSON).
const EVENT_TYPES: [&str; 4] = ["room_added", "room_removed", "room_updated", "user_updated"];

/// `room` as `user` sees it, like `GET /rooms/{name}` (their membership and
/// read state included).
async fn room_as_seen(
    store: &DynStore,
    user: (i64, &str),
    room: &Room,
) -> StoreResult<serde_json::Value> {
    let read = store.read_states(user.0, user.1, Some(room.id)).await?;
    let view = RoomView::for_user(room, user.0, read.first());
    Ok(serde_json::to_value(view).expect("room view serialises"))
}

/// The signal: `update` (a [`UserUpdate`] as JSON, opaque on the way) for
/// each of `users`, on every instance. Its handler only queues, in the
/// order signals arrive (one channel for all signals), so one user's
/// updates keep their order. `origin` names the raising instance, which
/// delivers at once and ignores its own signal relayed back.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct UserUpdateSignal {
    users: Vec<i64>,
    update: serde_json::Value,
    #[serde(default)]
    origin: String,
    /// Set only on the raising instance (never relayed).
    #[serde(skip)]
    here: bool,
}

impl Signal for UserUpdateSignal {
    const NAME: &'static str = "user_update";
}

impl UserUpdates {
    /// The service, registered for its signal.
    pub fn start(store: DynStore, broker: DynBroker) -> Arc<Self> {
        let service = Arc::new(UserUpdates {
            store,
            broker: Arc::clone(&broker),
            instance: uuid::Uuid::new_v4().simple().to_string(),
            listeners: Arc::default(),
        });
        let me = Arc::downgrade(&service);
        broker.signals().handle::<UserUpdateSignal>(move |signal| {
            if let Some(me) = me.upgrade() {
                // Delivered here when raised; not again when it comes back.
                if signal.here || signal.origin != me.instance {
                    me.listeners.deliver(&signal.users, &signal.update);
                }
            }
            None
        });
        service
    }

    /// Signals `update` to `users` on every instance (here before this
    /// returns).
    async fn signal(&self, users: Vec<i64>, update: &UserUpdate) {
        if users.is_empty() {
            return;
        }
        let update = serde_json::to_value(update).expect("user update serialises");
        let signal = UserUpdateSignal {
            users,
            update,
            origin: self.instance.clone(),
            here: true,
        };
        self.broker.signal(signal).await;
    }

    /// `user` (id, username) now belongs to `room`. A failed read is
    /// logged: the change itself is committed, and the client's next
    /// `GET /rooms` shows it.
    pub async fn room_added(&self, user: (i64, &str), room: &Room) {
        self.announce_room(user, room, true).await;
    }

    /// `room`'s name-level data changed for `user` (id, username).
    pub async fn room_updated(&self, user: (i64, &str), room: &Room) {
        self.announce_room(user, room, false).await;
    }

    async fn announce_room(&self, user: (i64, &str), room: &Room, added: bool) {
        match room_as_seen(&self.store, user, room).await {
            Ok(room) => {
                let update = if added {
                    UserUpdate::RoomAdded { room }
                } else {
                    UserUpdate::RoomUpdated { room }
                };
                self.signal(vec![user.0], &update).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, room = %room.name, "reading a room for a user update failed")
            }
        }
    }

    /// `user` (a `user` object) changed their profile: told to each of
    /// `users` (those who share a room with them, and themself).
    pub async fn user_updated(&self, users: Vec<i64>, user: serde_json::Value) {
        self.signal(users, &UserUpdate::UserUpdated { user }).await;
    }

    /// `room` left the room list of each of `users`, for `reason`.
    pub async fn room_removed(&self, users: Vec<i64>, room: &str, reason: RevokeReason) {
        let update = UserUpdate::RoomRemoved {
            room: room.to_string(),
            reason,
        };
        self.signal(users, &update).await;
    }
}

/// One listener: a connection's delivery queue and how its MESSAGEs are
/// written.
struct Listener {
    key: u64,
    recipient: Arc<Recipient>,
    queue: mpsc::Sender<Delivery>,
    overflow: Arc<Notify>,
}

/// The user destination service of this instance: announces updates
/// through its signal and holds this instance's listeners.
pub struct UserUpdates {
    store: DynStore,
    broker: DynBroker,
    /// Tells this instance's own signals from relayed ones.
    instance: String,
    listeners: Arc<Listeners>,
}

/// This instance's listeners of the user destination, by user.
#[derive(Default)]
struct Listeners {
    by_user: Mutex<HashMap<i64, Vec<Listener>>>,
    next_key: AtomicU64,
}

/// Keeps a listener registered; dropping it unregisters it.
pub struct Listening {
    updates: Weak<Listeners>,
    user_id: i64,
    key: u64,
}

impl Drop for Listening {
    fn drop(&mut self) {
        if let Some(updates) = self.updates.upgrade() {
            updates.forget(self.user_id, self.key);
        }
    }
}

impl UserUpdates {
    /// Delivers `user_id`'s updates to `queue` as MESSAGEs for `recipient`
    /// (SSE: any recipient; it writes only the JSON) until the guard drops.
    /// A full queue raises `overflow` and ends the listener.
    pub fn listen(
        &self,
        user_id: i64,
        recipient: Arc<Recipient>,
        queue: mpsc::Sender<Delivery>,
        overflow: Arc<Notify>,
    ) -> Listening {
        self.listeners.listen(user_id, recipient, queue, overflow)
    }
}

impl Listeners {
    fn listen(
        self: &Arc<Self>,
        user_id: i64,
        recipient: Arc<Recipient>,
        queue: mpsc::Sender<Delivery>,
        overflow: Arc<Notify>,
    ) -> Listening {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        self.by_user
            .lock()
            .expect("user updates lock")
            .entry(user_id)
            .or_default()
            .push(Listener {
                key,
                recipient,
                queue,
                overflow,
            });
        Listening {
            updates: Arc::downgrade(self),
            user_id,
            key,
        }
    }

    fn forget(&self, user_id: i64, key: u64) {
        let mut listeners = self.by_user.lock().expect("user updates lock");
        if let Some(list) = listeners.get_mut(&user_id) {
            list.retain(|l| l.key != key);
            if list.is_empty() {
                listeners.remove(&user_id);
            }
        }
    }

    /// Hands `update` (a [`UserUpdate`] as JSON, from this instance or
    /// another) to the listeners of each of `users` here. The signal's
    /// handler, in signal order: it only queues.
    fn deliver(&self, users: &[i64], update: &serde_json::Value) {
        let Some(event_type) = update["type"]
            .as_str()
            .and_then(|t| EVENT_TYPES.into_iter().find(|known| *known == t))
        else {
            tracing::warn!("ignoring a user update of an unknown type");
            return;
        };
        let mut listeners = self.by_user.lock().expect("user updates lock");
        if !users.iter().any(|u| listeners.contains_key(u)) {
            return;
        }
        let message = Arc::new(message(event_type, update));
        for user_id in users {
            let Some(list) = listeners.get_mut(user_id) else {
                continue;
            };
            list.retain(|l| {
                let delivery = Delivery {
                    message: Arc::clone(&message),
                    recipient: Arc::clone(&l.recipient),
                };
                match l.queue.try_send(delivery) {
                    Ok(()) => true,
                    Err(TrySendError::Full(_)) => {
                        l.overflow.notify_one();
                        false
                    }
                    Err(TrySendError::Closed(_)) => false,
                }
            });
            if list.is_empty() {
                listeners.remove(user_id);
            }
        }
    }
}

/// The MESSAGE of an update, encoded once for all its listeners:
/// `destination:/user/queue/updates`, `event-type`, JSON body; no seq.
fn message(event_type: &'static str, update: &serde_json::Value) -> Published {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let json = Bytes::from(serde_json::to_vec(update).expect("user update serialises"));
    let message_id_text = format!("user-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let frame = EncodedMessage::new(
        &[
            ("destination", DESTINATION),
            ("message-id", &message_id_text),
            ("event-type", event_type),
            ("content-type", "application/json"),
        ],
        &json,
    );
    Published {
        room_id: 0,
        seq: 0,
        event_type,
        sender: Box::from(""),
        revokes: false,
        // Like activity: at most once, no seq, never replayed.
        ephemeral: true,
        message_id: 0,
        message_id_text,
        room: Box::from(""),
        json,
        frame,
        born: std::time::Instant::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stomp::{SubscriptionHeader, Version};
    use futures_util::FutureExt;

    fn recipient(id: &str) -> Arc<Recipient> {
        Arc::new(Recipient {
            id: id.to_string(),
            room: Box::from(""),
            header: SubscriptionHeader::new(Version::V1_2, id),
            wants_ack: false,
        })
    }

    #[test]
    fn updates_reach_only_their_users_listeners_until_the_guard_drops() {
        let updates = Arc::new(Listeners::default());
        let (tx, mut rx) = mpsc::channel(4);
        let overflow = Arc::new(Notify::new());
        let guard = updates.listen(7, recipient("u"), tx.clone(), Arc::clone(&overflow));
        let removed = serde_json::to_value(UserUpdate::RoomRemoved {
            room: "general".into(),
            reason: RevokeReason::Banned,
        })
        .unwrap();
        updates.deliver(&[8], &removed);
        assert!(rx.try_recv().is_err(), "user 8's update reached user 7");
        updates.deliver(&[8, 7], &removed);
        let d = rx.try_recv().expect("user 7 gets their update");
        assert_eq!(d.message.event_type, "room_removed");
        assert!(d.message.ephemeral && d.message.seq == 0);
        let body: serde_json::Value = serde_json::from_slice(&d.message.json).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"type": "room_removed", "room": "general", "reason": "banned"})
        );
        drop(guard);
        updates.deliver(&[7], &removed);
        assert!(rx.try_recv().is_err(), "delivered after the guard dropped");
        assert!(updates.by_user.lock().unwrap().is_empty());
    }

    #[test]
    fn a_full_queue_is_a_slow_consumer() {
        let updates = Arc::new(Listeners::default());
        let (tx, _rx) = mpsc::channel(1);
        let overflow = Arc::new(Notify::new());
        let _guard = updates.listen(1, recipient("u"), tx, Arc::clone(&overflow));
        let added = serde_json::json!({"type": "room_added", "room": {"name": "a"}});
        updates.deliver(&[1], &added);
        updates.deliver(&[1], &added);
        assert!(
            overflow.notified().now_or_never().is_some(),
            "overflow raised"
        );
        assert!(updates.by_user.lock().unwrap().is_empty());
    }
}
