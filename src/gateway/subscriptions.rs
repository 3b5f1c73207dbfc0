//! A connection's active subscriptions, and the rule that each gets each
//! message exactly once, in seq order, across the `since-seq` replay seam.
//!
//! A subscription is registered with the broker before its replay starts, so
//! every message is in the replay or the live stream (or both). While the
//! replay runs, live deliveries are dropped: the replay reads on until it
//! reaches what is committed, so it covers every message delivered before
//! then. Afterwards `last_seq` drops the live copies of replayed messages.

use std::collections::HashMap;
use std::sync::Arc;

use super::outbox::Outbox;
use crate::broker::{Delivery, Published, SubscriberKey, SubscriberTag};
use crate::store::Message;

pub struct ActiveSubscription {
    pub room_id: i64,
    pub key: SubscriberKey,
    tag: Arc<SubscriberTag>,
    /// Highest seq written.
    last_seq: Option<i64>,
    /// Its `since-seq` replay is still running.
    replaying: bool,
}

#[derive(Default)]
pub struct Subscriptions {
    active: HashMap<String, ActiveSubscription>,
}

impl Subscriptions {
    /// Records a subscription registered with the broker; with `since`, its
    /// replay starts after that seq.
    pub fn insert(
        &mut self,
        id: String,
        room_id: i64,
        key: SubscriberKey,
        tag: Arc<SubscriberTag>,
        since: Option<i64>,
    ) {
        let sub = ActiveSubscription {
            room_id,
            key,
            tag,
            last_seq: since,
            replaying: since.is_some(),
        };
        self.active.insert(id, sub);
    }

    pub fn remove(&mut self, id: &str) -> Option<ActiveSubscription> {
        self.active.remove(id)
    }

    pub fn drain(&mut self) -> impl Iterator<Item = ActiveSubscription> + '_ {
        self.active.drain().map(|(_, sub)| sub)
    }

    /// Writes a live delivery, unless it is for a subscription that is gone
    /// or replaced, still replaying, or already has that seq.
    pub fn deliver(&mut self, d: &Delivery, outbox: &mut Outbox) {
        let Some(sub) = self.active.get_mut(&d.subscriber.id) else {
            return; // unsubscribed meanwhile
        };
        if !Arc::ptr_eq(&sub.tag, &d.subscriber)
            || sub.replaying
            || sub.last_seq.is_some_and(|s| d.message.seq <= s)
        {
            return; // an older subscription with the same id, or a replayed seq
        }
        write(&sub.tag, &d.message, outbox);
        sub.last_seq = Some(d.message.seq);
    }

    /// Writes a page of subscription `id`'s replay; `done` when the page
    /// reached the end of the room, so live delivery takes over.
    pub fn replayed(
        &mut self,
        id: &str,
        room_id: i64,
        page: &[Message],
        done: bool,
        outbox: &mut Outbox,
    ) {
        let Some(sub) = self.active.get_mut(id) else {
            return;
        };
        for m in page {
            write(&sub.tag, &Published::new(room_id, m), outbox);
            sub.last_seq = Some(m.seq);
        }
        if done {
            sub.replaying = false;
        }
    }
}

fn write(tag: &SubscriberTag, message: &Published, outbox: &mut Outbox) {
    let ack = tag.wants_ack.then_some(message.message_id_text.as_str());
    outbox.push_with(|out| message.frame.write_for(&tag.tag, ack, out));
    metrics::counter!(crate::metrics::FRAMES_OUT, "command" => "MESSAGE").increment(1);
}
