//! Subscriptions as the protocol knows them: client-chosen ids, each with
//! its room and ack mode; SUBSCRIBE and UNSUBSCRIBE, and their bound. The
//! live delivery of a subscription is the gateway's.

use std::collections::{HashMap, HashSet};

use crate::domain::RoomName;
use crate::stomp::ClientFrame;

use super::Action;
use super::headers::{Fatal, Outcome, destination, required_id};
use crate::destination::Destination;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    Auto,
    Client,
    ClientIndividual,
}

impl AckMode {
    fn parse(s: Option<&str>) -> Option<AckMode> {
        match s {
            None | Some("auto") => Some(AckMode::Auto),
            Some("client") => Some(AckMode::Client),
            Some("client-individual") => Some(AckMode::ClientIndividual),
            Some(_) => None,
        }
    }
}

/// A validated SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeRequest {
    pub id: String,
    pub room: RoomName,
    /// The room's activity rather than its log.
    pub activity: bool,
    pub ack: AckMode,
    /// Replay stored messages with seq above this before live ones.
    pub since_seq: Option<i64>,
    pub receipt: Option<String>,
}

/// An accepted subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub room: RoomName,
    pub ack: AckMode,
}

/// The session's subscriptions, by id.
pub(super) struct Subscriptions {
    by_id: HashMap<String, Subscription>,
    /// Subscriptions of the user destination (no room); they count against
    /// the bound like the others.
    user_updates: HashSet<String>,
    max: usize,
}

impl Subscriptions {
    pub(super) fn new(max: usize) -> Self {
        Subscriptions {
            by_id: HashMap::new(),
            user_updates: HashSet::new(),
            max,
        }
    }

    pub(super) fn get(&self, id: &str) -> Option<&Subscription> {
        self.by_id.get(id)
    }

    pub(super) fn subscribe(&mut self, frame: &ClientFrame) -> Outcome {
        let id = required_id(frame, "id")?.to_string();
        let target = destination(frame)?;
        let ack = AckMode::parse(frame.header("ack"))
            .ok_or_else(|| Fatal::new("ack must be auto, client or client-individual"))?;
        if self.by_id.contains_key(&id) || self.user_updates.contains(&id) {
            return Err(Fatal::new(format!(
                "subscription id {id} is already in use"
            )));
        }
        if self.by_id.len() + self.user_updates.len() >= self.max {
            return Err(Fatal::new(format!(
                "too many subscriptions (at most {})",
                self.max
            )));
        }
        let (room, activity) = match target {
            Destination::Room(room) => (room, false),
            Destination::Activity(room) => (room, true),
            Destination::UserUpdates => {
                self.user_updates.insert(id.clone());
                return Ok(vec![Action::SubscribeUserUpdates {
                    id,
                    ack,
                    receipt: frame.header("receipt").map(str::to_string),
                }]);
            }
        };
        let since_seq = frame
            .header("since-seq")
            .map(|v| crate::domain::parse_seq(v, 0))
            .map(|v| v.ok_or_else(|| Fatal::new("since-seq must be a non-negative integer")))
            .transpose()?
            .filter(|_| !activity); // signals are never replayed
        self.by_id.insert(
            id.clone(),
            Subscription {
                room: room.clone(),
                ack,
            },
        );
        Ok(vec![Action::Subscribe(SubscribeRequest {
            id,
            room,
            activity,
            ack,
            since_seq,
            receipt: frame.header("receipt").map(str::to_string),
        })])
    }

    pub(super) fn unsubscribe(&mut self, frame: &ClientFrame) -> Outcome {
        let id = required_id(frame, "id")?.to_string();
        if self.by_id.remove(&id).is_none() && !self.user_updates.remove(&id) {
            return Err(Fatal::new(format!("no subscription with id {id}")));
        }
        Ok(vec![Action::Unsubscribe {
            id,
            receipt: frame.header("receipt").map(str::to_string),
        }])
    }
}
