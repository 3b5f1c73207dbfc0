//! Access revocation (README, "Members, moderation and blocking"): when a
//! user loses access to a room (left, removed, banned, the room deleted),
//! each of their subscriptions, event streams and long polls of it, on
//! every instance, gets a last `access_revoked` and nothing after it.
//!
//! The service owns the record of revocations (what connections check
//! before each SEND and after each SUBSCRIBE's registration, so one that
//! raced the signal does not take the room as open) and its signal,
//! [`Revoked`]. Acting on it, it records the revocation first, then asks
//! the hub to cut the subscribers off under the lock that orders
//! deliveries: nothing of the room is delivered to them after the notice.
//! The relay keeps the signal in order with the room's messages.
//!
//! After the relay was away, revocations may have been missed: every room
//! with local subscribers is then checked against the database.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock, Weak};

use bytes::Bytes;

use crate::broker::{DynBroker, Published, RoomAudience, Signal};
use crate::store::{DynStore, StoreResult};

/// Why a user lost access to a room (the `reason` of `access_revoked`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    Left,
    Removed,
    Banned,
    RoomDeleted,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Left => "left",
            RevokeReason::Removed => "removed",
            RevokeReason::Banned => "banned",
            RevokeReason::RoomDeleted => "room_deleted",
        }
    }
}

/// `user_id` (everyone, when None: the room was deleted) lost access to
/// the room.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Revoked {
    room_id: i64,
    room: String,
    user_id: Option<i64>,
    reason: RevokeReason,
}

impl Signal for Revoked {
    const NAME: &'static str = "revoked";

    fn room_id(&self) -> Option<i64> {
        Some(self.room_id)
    }
}

/// Every (room, user) that lost access, and when (a rising mark). Rooms
/// deleted are recorded with no user. Small: revocations are rare, and an
/// entry is a few words.
#[derive(Default)]
struct Record {
    mark: u64,
    at: HashMap<(i64, Option<i64>), u64>,
}

/// The revocation service of this instance.
pub struct Revocations {
    broker: DynBroker,
    store: DynStore,
    /// Read on every SEND (the connections' room check), written rarely.
    record: RwLock<Record>,
}

impl Revocations {
    /// The service, registered for its signal (and for the relay's
    /// "signals may have been missed").
    pub fn start(store: DynStore, broker: DynBroker) -> Arc<Self> {
        let service = Arc::new(Revocations {
            broker: Arc::clone(&broker),
            store,
            record: RwLock::new(Record::default()),
        });
        let me = Arc::downgrade(&service);
        broker.signals().handle::<Revoked>(move |revoked| {
            if let Some(me) = me.upgrade() {
                me.apply(&revoked);
            }
            None
        });
        let me: Weak<Self> = Arc::downgrade(&service);
        broker.signals().on_missed(move || {
            if let Some(me) = me.upgrade() {
                tokio::spawn(async move { me.recheck_access().await });
            }
        });
        service
    }

    /// `user_id` (everyone, when None) lost access to `room`: cut off on
    /// every instance (on this one before this returns).
    pub async fn revoke(
        &self,
        room_id: i64,
        room: &str,
        user_id: Option<i64>,
        reason: RevokeReason,
    ) {
        let revoked = Revoked {
            room_id,
            room: room.to_string(),
            user_id,
            reason,
        };
        self.broker.signal(revoked).await;
    }

    /// Where the record of revocations stands now (see `revoked_since`).
    pub fn mark(&self) -> u64 {
        self.record.read().expect("revocations lock").mark
    }

    /// Whether `user_id` lost access to `room_id` (or the room was
    /// deleted) since `mark` answered `mark`.
    pub fn revoked_since(&self, room_id: i64, user_id: i64, mark: u64) -> bool {
        let record = self.record.read().expect("revocations lock");
        if record.mark <= mark {
            return false; // nothing revoked since
        }
        [Some(user_id), None]
            .into_iter()
            .any(|who| record.at.get(&(room_id, who)).is_some_and(|&m| m > mark))
    }

    /// Recorded first, so a connection that checks `revoked_since` after
    /// this never takes the room as open; then each subscriber of the user
    /// here gets a last `access_revoked` and is dropped from the room.
    fn apply(&self, r: &Revoked) {
        {
            let mut record = self.record.write().expect("revocations lock");
            record.mark += 1;
            let mark = record.mark;
            record.at.insert((r.room_id, r.user_id), mark);
        }
        let json = Bytes::from(crate::views::revoked_json(&r.room, r.reason.as_str()));
        let id = format!("access_revoked-{}", r.room_id);
        let notice = Published {
            revokes: true,
            ..Published::notice(r.room_id, &r.room, "access_revoked", id, 0, json)
        };
        self.broker.hub().cut_off(r.room_id, notice, |audience| {
            r.user_id.is_none_or(|u| u == audience.user_id())
        });
    }

    /// Checks every room with local subscribers against the database (a
    /// few queries per room), and cuts off whoever lost access meanwhile as
    /// if the signal had come: a deleted room for everyone, a banned user,
    /// a private room's former member. (A former member of a public room
    /// may read it anyway; the next signal about them still applies.)
    pub async fn recheck_access(&self) {
        for room in self.broker.hub().audiences() {
            if let Err(e) = self.recheck_room(&room).await {
                tracing::warn!(room_id = room.room_id, error = %e, "rechecking access failed");
            }
        }
    }

    async fn recheck_room(&self, here: &RoomAudience) -> StoreResult<()> {
        let (room_id, name) = (here.room_id, here.room.to_string());
        let revoke = |user_id, reason| Revoked {
            room_id,
            room: name.clone(),
            user_id,
            reason,
        };
        let Some(room) = self.store.room_by_id(room_id).await? else {
            self.apply(&revoke(None, RevokeReason::RoomDeleted));
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
        for &user in &here.users {
            if banned.contains(&user) {
                self.apply(&revoke(Some(user), RevokeReason::Banned));
            } else if room.private && !members.contains(&user) {
                self.apply(&revoke(Some(user), RevokeReason::Removed));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::{Broker, EventAt, RoomFeed};
    use crate::domain::{RoomName, Username};
    use crate::viewers::Viewer;

    #[tokio::test]
    async fn nothing_reaches_a_revoked_user_after_access_revoked_and_the_others_go_on() {
        let store = crate::store::connect("sqlite::memory:", 1).await.unwrap();
        let ann = store
            .create_user(&Username::parse("ann").unwrap(), "x")
            .await
            .unwrap();
        let name = RoomName::parse("lobby").unwrap();
        let room = store.create_room(&name, false, ann.id).await.unwrap();
        let broker = Broker::local(store.clone());
        let revocations = Revocations::start(store, broker.clone());
        let bob_id = ann.id + 1;
        let mut bob = RoomFeed::open(&broker, &room, Arc::new(Viewer::new(bob_id, [])), 8).await;
        let mut others = RoomFeed::open(&broker, &room, Arc::new(Viewer::new(ann.id, [])), 8).await;
        let mark = revocations.mark();

        revocations
            .revoke(room.id, &room.name, Some(bob_id), RevokeReason::Banned)
            .await;
        let at = EventAt {
            room_id: room.id,
            id: 1,
            room: &room.name,
            seq: room.last_seq + 1,
        };
        let json = Bytes::from_static(b"{}");
        broker.publish(vec![Arc::new(Published::encode(
            at, "message", "ann", json,
        ))]);

        assert!(
            revocations.revoked_since(room.id, bob_id, mark),
            "the revocation is recorded by the time revoke returns"
        );
        assert!(
            !revocations.revoked_since(room.id, ann.id, mark),
            "only bob lost access"
        );
        let last = bob.queue.try_recv().expect("bob is told");
        assert_eq!(last.message.event_type, "access_revoked");
        assert!(last.message.revokes);
        assert!(
            bob.queue.try_recv().is_err(),
            "nothing is delivered to bob after access_revoked"
        );
        let next = others.queue.try_recv().expect("ann still gets the room");
        assert_eq!(next.message.seq, room.last_seq + 1);
    }
}
