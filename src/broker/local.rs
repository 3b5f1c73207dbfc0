//! The in-process broker: one instance, publish goes straight to the hub.

use std::sync::Arc;

use super::{Broker, Hub, PresenceGuard, Published, Signal, Subscriber, SubscriberKey, Viewer};
use crate::store::StoreResult;
use crate::views::Activity;

pub struct LocalBroker {
    hub: Arc<Hub>,
}

impl LocalBroker {
    pub fn new(hub: Arc<Hub>) -> Self {
        LocalBroker { hub }
    }
}

#[async_trait::async_trait]
impl Broker for LocalBroker {
    fn publish(&self, messages: Vec<Arc<Published>>) {
        for m in messages {
            self.hub.deliver(m);
        }
    }

    async fn subscribe(&self, room_id: i64, subscriber: Subscriber) -> SubscriberKey {
        self.hub.subscribe(room_id, subscriber).await
    }

    fn unsubscribe(&self, room_id: i64, key: SubscriberKey) {
        self.hub.unsubscribe(room_id, key);
    }

    fn is_ready(&self) -> bool {
        true
    }

    fn publish_activity(&self, room_id: i64, activity: &Activity) {
        self.hub.deliver_activity(room_id, activity);
    }

    async fn signal(&self, signal: Signal) {
        self.hub.apply(&signal).await;
    }

    fn present(&self, user_id: i64, username: &str) -> PresenceGuard {
        self.hub.arrive(user_id, username)
    }

    fn is_online(&self, user_id: i64) -> bool {
        self.hub.presence.is_online(user_id)
    }

    async fn viewer(&self, user_id: i64) -> StoreResult<Arc<Viewer>> {
        self.hub.viewers.of(user_id).await
    }

    fn revocation_mark(&self) -> u64 {
        self.hub.revocation_mark()
    }

    fn revoked_since(&self, room_id: i64, user_id: i64, mark: u64) -> bool {
        self.hub.revoked_since(room_id, user_id, mark)
    }
}
