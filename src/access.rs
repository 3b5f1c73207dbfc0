//! Who may see which room: the one rule shared by REST, STOMP and SSE.
//! A private room is invisible to non-members, and every room to the users
//! banned from it, exactly like a room that does not exist.

use crate::domain::{Role, RoomName};
use crate::store::moderation::Standing;
use crate::store::{Room, Store, StoreResult};

/// A room as seen by one user.
#[derive(Debug, Clone)]
pub struct VisibleRoom {
    pub room: Room,
    /// The user's role; None when they are not a member (of a public room).
    pub role: Option<Role>,
}

impl VisibleRoom {
    pub fn is_member(&self) -> bool {
        self.role.is_some()
    }
}

/// Whether a user standing so may see the room at all.
pub fn may_see(room: &Room, standing: Standing) -> bool {
    !standing.banned && (!room.private || standing.role.is_some())
}

/// The room named `name` if `user_id` may see it: public rooms unless
/// banned from them, private rooms only for members. Invalid names are
/// simply not found.
pub async fn visible_room(
    store: &dyn Store,
    name: &str,
    user_id: i64,
) -> StoreResult<Option<VisibleRoom>> {
    let Ok(name) = RoomName::parse(name) else {
        return Ok(None);
    };
    let Some(room) = store.room_by_name(&name).await? else {
        return Ok(None);
    };
    let standing = store.standing(room.id, user_id).await?;
    if !may_see(&room, standing) {
        return Ok(None);
    }
    Ok(Some(VisibleRoom {
        role: standing.role,
        room,
    }))
}
