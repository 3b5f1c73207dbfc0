//! A connection's live subscriptions: their registration with the broker,
//! the connection's delivery queue, and the rule that each subscription gets
//! each message exactly once, in seq order, across the `since-seq` replay
//! seam. A subscription of the user destination is registered with
//! `user_updates` instead of the broker, and delivered like activity.
//!
//! A subscription is registered with the broker before its replay starts, so
//! every message is in the replay or the live stream (or both). While the
//! replay runs, live deliveries are dropped: the replay reads on until it
//! reaches what is committed, so it covers every message delivered before
//! then. Afterwards `last_seq` drops the live copies of replayed messages.
//!
//! This is delivery state only, keyed by the session's subscription ids: the
//! session owns which subscriptions exist, their rooms and ack modes; this
//! must not accept or refuse a subscription.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tokio::sync::{Notify, mpsc};

use super::outbox::Outbox;
use crate::broker::{Delivery, DynBroker, Published, Recipient, Subscriber, SubscriberKey};
use crate::session::{AckMode, SubscribeRequest};
use crate::stomp::{ServerCommand, SubscriptionHeader, Version};
use crate::store::{Event, Room};
use crate::user_updates::{Listening, UserUpdates};
use crate::viewers::Viewer;

/// Where a subscription is registered.
enum Registration {
    /// With the broker, as a subscriber of a room's log or activity.
    Room { room_id: i64, key: SubscriberKey },
    /// With the user destination's listeners (until dropped).
    UserUpdates(Listening),
}

/// The delivery state of one subscription of this connection.
struct LiveSubscription {
    registration: Registration,
    recipient: Arc<Recipient>,
    /// Highest seq written.
    last_seq: Option<i64>,
    /// Its `since-seq` replay is still running.
    replaying: bool,
    /// `ack:client` on a room's log: an ACK moves the user's read marker.
    marks_read: bool,
}

/// Frames written to `ack:client` subscriptions, by message id, so an ACK
/// can say which seq of which room it acknowledges. Bounded: a client that
/// never acknowledges keeps only the latest [`AckLog::MAX`].
#[derive(Default)]
struct AckLog {
    at: HashMap<i64, (i64, i64)>,
    order: VecDeque<i64>,
}

impl AckLog {
    const MAX: usize = 4096;

    fn written(&mut self, message_id: i64, room_id: i64, seq: i64) {
        if self.at.insert(message_id, (room_id, seq)).is_none() {
            self.order.push_back(message_id);
        }
        while self.order.len() > Self::MAX {
            if let Some(old) = self.order.pop_front() {
                self.at.remove(&old);
            }
        }
    }

    fn acked(&mut self, message_id: i64) -> Option<(i64, i64)> {
        self.at.remove(&message_id)
    }
}

pub struct LiveSubscriptions {
    broker: DynBroker,
    live: HashMap<String, LiveSubscription>,
    /// The connection's user, as blocking sees them (set at CONNECT).
    viewer: Option<Arc<Viewer>>,
    acks: AckLog,
    /// The connection's delivery queue, shared by its subscriptions.
    queue: mpsc::Sender<Delivery>,
    /// Raised by the broker when `queue` overflowed: a slow consumer.
    overflow: Arc<Notify>,
}

impl LiveSubscriptions {
    pub fn new(broker: DynBroker, queue: mpsc::Sender<Delivery>) -> Self {
        LiveSubscriptions {
            broker,
            live: HashMap::new(),
            viewer: None,
            acks: AckLog::default(),
            queue,
            overflow: Arc::new(Notify::new()),
        }
    }

    /// The user the connection delivers to, once authenticated.
    pub fn set_viewer(&mut self, viewer: Arc<Viewer>) {
        self.viewer = Some(viewer);
    }

    /// Resolves when the delivery queue overflowed.
    pub async fn overflowed(&self) {
        self.overflow.notified().await
    }

    /// Registers subscription `id` of `room_id` with the broker; with
    /// `since`, its replay starts after that seq and live deliveries wait.
    pub async fn register(&mut self, req: &SubscribeRequest, room: &Room, version: Version) {
        let (id, ack, since) = (req.id.as_str(), req.ack, req.since_seq);
        let room_id = room.id;
        let recipient = Arc::new(Recipient {
            room: Box::from(room.name.as_str()),
            header: SubscriptionHeader::new(version, id),
            id: id.to_string(),
            wants_ack: ack != AckMode::Auto,
        });
        let viewer = self
            .viewer
            .clone()
            .expect("subscriptions come after CONNECT");
        let subscriber = Subscriber {
            recipient: Arc::clone(&recipient),
            audience: viewer,
            activity: req.activity,
            queue: self.queue.clone(),
            overflow: Arc::clone(&self.overflow),
        };
        let key = self.broker.subscribe(room_id, subscriber).await;
        let sub = LiveSubscription {
            registration: Registration::Room { room_id, key },
            recipient,
            last_seq: since,
            replaying: since.is_some(),
            marks_read: ack == AckMode::Client && !req.activity,
        };
        self.live.insert(id.to_string(), sub);
    }

    /// Registers subscription `id` of the user destination: `user_id`'s
    /// room-list updates, delivered like activity (no seq, no replay).
    pub fn register_user_updates(
        &mut self,
        updates: &Arc<UserUpdates>,
        user_id: i64,
        id: &str,
        ack: AckMode,
        version: Version,
    ) {
        let recipient = Arc::new(Recipient {
            room: Box::from(""),
            header: SubscriptionHeader::new(version, id),
            id: id.to_string(),
            wants_ack: ack != AckMode::Auto,
        });
        let listening = updates.listen(
            user_id,
            Arc::clone(&recipient),
            self.queue.clone(),
            Arc::clone(&self.overflow),
        );
        let sub = LiveSubscription {
            registration: Registration::UserUpdates(listening),
            recipient,
            last_seq: None,
            replaying: false,
            marks_read: false,
        };
        self.live.insert(id.to_string(), sub);
    }

    /// The (room id, seq) that an ACK of `ack_id` acknowledges, if it names
    /// a MESSAGE written to an `ack:client` subscription of a room's log.
    pub fn acked(&mut self, ack_id: &str) -> Option<(i64, i64)> {
        self.acks.acked(ack_id.parse().ok()?)
    }

    /// Stops delivering to subscription `id`.
    pub fn unregister(&mut self, id: &str) {
        if let Some(sub) = self.live.remove(id) {
            release(&self.broker, sub.registration);
        }
    }

    /// Stops delivering to every subscription (the connection ends).
    pub fn unregister_all(&mut self) {
        for (_, sub) in self.live.drain() {
            release(&self.broker, sub.registration);
        }
    }

    /// Moves a burst of deliveries into the outbox, as far as it has room
    /// (the rest waits in the queue, which overflows if the client does not
    /// read: a slow consumer).
    pub fn deliver_burst(
        &mut self,
        first: Delivery,
        queue: &mut mpsc::Receiver<Delivery>,
        outbox: &mut Outbox,
    ) {
        self.deliver(&first, outbox);
        while outbox.has_room() {
            match queue.try_recv() {
                Ok(d) => self.deliver(&d, outbox),
                Err(_) => break,
            }
        }
    }

    /// Writes a live delivery, unless it is for a subscription that is gone
    /// or replaced, still replaying, or already has that seq. An
    /// `access_revoked` is written whatever the subscription's state, and
    /// ends its delivery (the hub already dropped it; the session keeps the
    /// id for UNSUBSCRIBE).
    fn deliver(&mut self, d: &Delivery, outbox: &mut Outbox) {
        let Some(sub) = self.live.get_mut(&d.recipient.id) else {
            return; // unsubscribed meanwhile
        };
        if !Arc::ptr_eq(&sub.recipient, &d.recipient) {
            return; // an older subscription with the same id
        }
        if d.message.revokes {
            write(&sub.recipient, &d.message, outbox);
            self.live.remove(&d.recipient.id);
            return;
        }
        if d.message.ephemeral {
            write(&sub.recipient, &d.message, outbox);
            return;
        }
        if sub.replaying || sub.last_seq.is_some_and(|s| d.message.seq <= s) {
            return; // an older subscription with the same id, or a replayed seq
        }
        write(&sub.recipient, &d.message, outbox);
        sub.last_seq = Some(d.message.seq);
        if sub.marks_read {
            let m = &d.message;
            self.acks.written(m.message_id, m.room_id, m.seq);
        }
    }

    /// Writes the `horizon` notice of subscription `id`'s replay, which
    /// starts below the room's retention horizon (README, "Retention"):
    /// the replay goes on after `notice.seq`. False when the subscription
    /// is gone.
    pub fn replayed_horizon(&mut self, id: &str, notice: &Published, outbox: &mut Outbox) -> bool {
        let Some(sub) = self.live.get_mut(id) else {
            return false;
        };
        write(&sub.recipient, notice, outbox);
        sub.last_seq = sub.last_seq.max(Some(notice.seq));
        true
    }

    /// Writes a page of subscription `id`'s replay; `done` when the page
    /// reached the end of the room, so live delivery takes over. False when
    /// the subscription is gone (unsubscribed, or its access revoked): the
    /// replay has nothing more to do.
    pub fn replayed(
        &mut self,
        id: &str,
        room_id: i64,
        page: &[Event],
        done: bool,
        outbox: &mut Outbox,
    ) -> bool {
        let Some(sub) = self.live.get_mut(id) else {
            return false;
        };
        let viewer = self
            .viewer
            .as_deref()
            .expect("subscriptions come after CONNECT");
        for m in page {
            write(
                &sub.recipient,
                &Published::new_for(room_id, m, viewer),
                outbox,
            );
            sub.last_seq = Some(m.seq);
            if sub.marks_read {
                self.acks.written(m.id, room_id, m.seq);
            }
        }
        if done {
            sub.replaying = false;
        }
        true
    }
}

fn release(broker: &DynBroker, registration: Registration) {
    match registration {
        Registration::Room { room_id, key } => broker.unsubscribe(room_id, key),
        Registration::UserUpdates(listening) => drop(listening),
    }
}

fn write(to: &Recipient, message: &Published, outbox: &mut Outbox) {
    let ack = to.wants_ack.then_some(message.message_id_text.as_str());
    outbox.push_with(|out| message.frame.write_for(&to.header, ack, out));
    crate::metrics::frames_out(ServerCommand::Message).increment(1);
}
