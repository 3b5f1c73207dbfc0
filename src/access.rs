//! Who may see which room: the one rule shared by REST, STOMP and SSE.
//! A private room is invisible to non-members, exactly like a room that
//! does not exist.

use crate::domain::RoomName;
use crate::store::{Room, RoomStore, StoreResult};

/// A room as seen by one user.
#[derive(Debug, Clone)]
pub struct VisibleRoom {
    pub room: Room,
    pub is_member: bool,
}

/// The room named `name` if `user_id` may see it: public rooms always,
/// private rooms only for members. Invalid names are simply not found.
pub async fn visible_room(
    store: &dyn RoomStore,
    name: &str,
    user_id: i64,
) -> StoreResult<Option<VisibleRoom>> {
    let Ok(name) = RoomName::parse(name) else {
        return Ok(None);
    };
    let Some(room) = store.room_by_name(&name).await? else {
        return Ok(None);
    };
    let is_member = store.is_member(room.id, user_id).await?;
    if room.private && !is_member {
        return Ok(None);
    }
    Ok(Some(VisibleRoom { room, is_member }))
}
