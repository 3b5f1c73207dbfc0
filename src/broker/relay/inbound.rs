//! The relay's subscribing side, shared by one server ([`super::single`])
//! and a cluster's shards ([`super::shards`]): which rooms to subscribe to
//! ([`RoomCommand`], from the hub), and what to do with what arrives and
//! with a subscription (re)made ([`Inbound`]).

use std::sync::Arc;

use super::super::hub::Hub;
use super::super::signal::Signals;
use super::wire::{self, Incoming};

/// A room gained its first local subscriber, or lost its last.
pub enum RoomCommand {
    Subscribe(i64),
    Unsubscribe(i64),
}

/// Where relayed messages go: events and activity to the hub, signals to
/// their handlers, in the order they arrive.
#[derive(Clone)]
pub struct Inbound {
    pub hub: Arc<Hub>,
    pub signals: Arc<Signals>,
}

impl Inbound {
    pub fn arrived(&self, msg: &redis::Msg) {
        let channel = msg.get_channel_name();
        match wire::decode(channel, msg.get_payload_bytes()) {
            Incoming::Event(published) => self.hub.deliver(published),
            Incoming::Activity(room_id, activity) => self.hub.deliver_activity(room_id, &activity),
            // In the order relayed: a revocation cuts the room's later
            // messages off from whoever lost access.
            Incoming::Signal(json) => self.signals.relayed(json),
            Incoming::Malformed => tracing::warn!(channel, "ignoring malformed relay message"),
        }
    }

    /// A room's channel is subscribed (again): messages published before
    /// the subscription took effect, or while it was away, come from the
    /// store.
    pub fn room_subscribed(&self, room_id: i64) {
        self.hub.resync(room_id);
    }

    /// The signals channel is subscribed (again): signals relayed while it
    /// was away are missed.
    pub fn signals_subscribed(&self) {
        self.signals.missed();
    }
}
