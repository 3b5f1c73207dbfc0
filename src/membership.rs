//! Changes to who belongs to a room, shared by the REST routes: each is
//! decided and stored in one transaction under the room's lock
//! (`store::moderation` holds the rules), then every instance is told who
//! lost access, so their subscriptions, event streams and long polls of the
//! room end at once (README, "Members, moderation and blocking"). Blocking
//! changes are signalled the same way.

use crate::broker::{DynBroker, RevokeReason, Signal};
use crate::store::moderation::{Action, Effect, Refusal};
use crate::store::{DynStore, Room, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    #[error(transparent)]
    Refused(#[from] Refusal),
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
}

impl Membership {
    pub fn new(store: DynStore, broker: DynBroker) -> Self {
        Membership { store, broker }
    }

    /// `actor_id` does `action` to `target_id` (themself for `Join`,
    /// `Leave`, `Delete`) in `room`; whoever loses access by it is cut off
    /// on every instance before this returns here.
    pub async fn act(
        &self,
        room: &Room,
        actor_id: i64,
        target_id: i64,
        action: Action,
    ) -> Result<Effect, MembershipError> {
        let effect = self
            .store
            .moderate(room.id, actor_id, target_id, action)
            .await??;
        let lost = match (action, effect) {
            (_, Effect::DeleteRoom) => Some((None, RevokeReason::RoomDeleted)),
            (Action::Leave, Effect::Drop) => Some((Some(target_id), RevokeReason::Left)),
            (_, Effect::Drop) => Some((Some(target_id), RevokeReason::Removed)),
            // Even a user who was not a member may hold an event stream of
            // a public room.
            (_, Effect::Ban { .. }) => Some((Some(target_id), RevokeReason::Banned)),
            _ => None,
        };
        if let Some((user_id, reason)) = lost {
            tracing::info!(room = %room.name, ?user_id, reason = reason.as_str(), "access revoked");
            self.broker
                .signal(Signal::Revoked {
                    room_id: room.id,
                    room: room.name.clone(),
                    user_id,
                    reason,
                })
                .await;
        }
        Ok(effect)
    }

    /// The users `user_id` blocks changed: their deliveries follow on
    /// every instance (on this one before this returns).
    pub async fn blocks_changed(&self, user_id: i64) {
        self.broker.signal(Signal::Blocks { user_id }).await;
    }
}
