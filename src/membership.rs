//! Changes to who belongs to a room, shared by the REST routes: each is
//! decided and stored in one transaction under the room's lock
//! (`store::moderation` holds the rules), then every instance is told who
//! lost access, so their subscriptions, event streams and long polls of the
//! room end at once (README, "Members, moderation and blocking"): the
//! `revocation` service does that. Blocking changes go to the `viewers`
//! service the same way. Whoever's own room list changed is told on the
//! user destination (the `user_updates` service).

use std::sync::Arc;

use crate::broker::DynBroker;
use crate::domain::Role;
use crate::revocation::{Revocations, RevokeReason};
use crate::store::moderation::{Denial, Effect, MembershipRequest};
use crate::store::{Departure, DynStore, Member, Room, StoreError};
use crate::user_updates::UserUpdates;
use crate::viewers::Viewers;
use crate::views::Activity;

#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    #[error(transparent)]
    Refused(#[from] Denial),
    /// The room is gone (deleted meanwhile).
    #[error("room not found")]
    RoomNotFound,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for MembershipError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::RoomNotFound => MembershipError::RoomNotFound,
            other => MembershipError::Store(other),
        }
    }
}

#[derive(Clone)]
pub struct Membership {
    store: DynStore,
    broker: DynBroker,
    revocations: Arc<Revocations>,
    viewers: Arc<Viewers>,
    user_updates: Arc<UserUpdates>,
}

impl Membership {
    pub fn new(
        store: DynStore,
        broker: DynBroker,
        revocations: Arc<Revocations>,
        viewers: Arc<Viewers>,
        user_updates: Arc<UserUpdates>,
    ) -> Self {
        Membership {
            store,
            broker,
            revocations,
            viewers,
            user_updates,
        }
    }

    /// `actor` does `action` to `target` (themself for `Join`, `Leave`,
    /// `Delete`) in `room`, each given as (id, username); the change is
    /// announced on the room's activity, and whoever loses access by it is
    /// cut off on every instance (on this one before this returns).
    pub async fn act(
        &self,
        room: &Room,
        actor: (i64, &str),
        target: (i64, &str),
        action: MembershipRequest,
    ) -> Result<Effect, MembershipError> {
        let (actor_id, target_id) = (actor.0, target.0);
        // Whose room list a deletion changes: read before the memberships
        // go with the room.
        let members = match action {
            MembershipRequest::Delete => self.store.members(room.id).await?,
            _ => Vec::new(),
        };
        let effect = self
            .store
            .moderate(room.id, actor_id, target_id, action)
            .await??;
        announce(&self.broker, room.id, action, effect, actor.1, target.1);
        let lost = match (action, effect) {
            (_, Effect::DeleteRoom) => Some((None, RevokeReason::RoomDeleted)),
            (MembershipRequest::Leave, Effect::Drop) => Some((Some(target_id), RevokeReason::Left)),
            (_, Effect::Drop) => Some((Some(target_id), RevokeReason::Removed)),
            // Even a user who was not a member may hold an event stream of
            // a public room.
            (_, Effect::Ban { .. }) => Some((Some(target_id), RevokeReason::Banned)),
            _ => None,
        };
        if let Some((user_id, reason)) = lost {
            tracing::info!(room = %room.name, ?user_id, reason = reason.as_str(), "access revoked");
            self.revocations
                .revoke(room.id, &room.name, user_id, reason)
                .await;
        }
        self.update_room_lists(room, target, effect, lost.map(|(_, r)| r), members)
            .await;
        Ok(effect)
    }

    /// Tells the users whose own room list `effect` changed (the user
    /// destination: `user_updates`).
    async fn update_room_lists(
        &self,
        room: &Room,
        target: (i64, &str),
        effect: Effect,
        lost: Option<RevokeReason>,
        members: Vec<Member>,
    ) {
        let updates = &self.user_updates;
        match (effect, lost) {
            (Effect::Join, _) => updates.room_added(target, room).await,
            (Effect::SetRole(_), _) => updates.room_updated(target, room).await,
            (Effect::DeleteRoom, _) => {
                let users = members.iter().map(|m| m.user.id).collect();
                (updates.room_removed(users, &room.name, RevokeReason::RoomDeleted)).await
            }
            (_, Some(reason)) => (updates.room_removed(vec![target.0], &room.name, reason)).await,
            _ => {}
        }
    }

    /// `user` (id, username) leaves `room` because their account is
    /// closing (README, "Accounts"), announced like a leave: a room they
    /// own passes to its oldest moderator, else its oldest member (who is
    /// told, on the activity and on their user destination), and one
    /// with no other member is deleted like any room.
    pub async fn depart(&self, room: &Room, user: (i64, &str)) -> Result<(), MembershipError> {
        let (new_owner, role_before) = match self.store.depart(room.id, user.0).await? {
            Departure::NotMember => return Ok(()),
            Departure::Alone => {
                self.act(room, user, user, MembershipRequest::Delete)
                    .await?;
                return Ok(());
            }
            Departure::Left => (None, None),
            Departure::HandedOver { to, role_before } => (Some(to), Some(role_before)),
        };
        announce(
            &self.broker,
            room.id,
            MembershipRequest::Leave,
            Effect::Drop,
            user.1,
            user.1,
        );
        self.revocations
            .revoke(room.id, &room.name, Some(user.0), RevokeReason::Left)
            .await;
        self.update_room_lists(
            room,
            user,
            Effect::Drop,
            Some(RevokeReason::Left),
            Vec::new(),
        )
        .await;
        if let (Some((id, name)), Some(before)) = (new_owner, role_before) {
            tracing::info!(room = %room.name, new_owner = id, ?before, "room handed over");
            let activity = Activity::Member {
                user: name.clone(),
                change: "role".to_string(),
                role: Some(Role::Owner.as_str().to_string()),
                by: None,
            };
            self.broker.publish_activity(room.id, &activity);
            if let Some(room) = self.store.room_by_id(room.id).await? {
                self.user_updates.room_updated((id, &name), &room).await;
            }
        }
        Ok(())
    }

    /// The users `user_id` blocks changed: their deliveries follow on
    /// every instance (on this one before this returns).
    pub async fn blocks_changed(&self, user_id: i64) {
        self.viewers.blocks_changed(user_id).await;
    }
}

/// Announces a membership change on the room's activity (README, "Read
/// markers, unread counts, typing and presence": `member` signals).
fn announce(
    broker: &DynBroker,
    room_id: i64,
    action: MembershipRequest,
    effect: Effect,
    actor: &str,
    target: &str,
) {
    let by = (actor != target).then(|| actor.to_string());
    let (change, role) = match (action, effect) {
        (_, Effect::Nothing | Effect::DeleteRoom) => return,
        (_, Effect::Join) => ("joined", Some(Role::Member)),
        (MembershipRequest::Leave, Effect::Drop) => ("left", None),
        (_, Effect::Drop) => ("removed", None),
        (_, Effect::Ban { .. }) => ("banned", None),
        (_, Effect::Unban) => ("unbanned", None),
        (_, Effect::SetRole(role)) => ("role", Some(role)),
    };
    let activity = Activity::Member {
        user: target.to_string(),
        change: change.to_string(),
        role: role.map(|r| r.as_str().to_string()),
        by,
    };
    broker.publish_activity(room_id, &activity);
}
