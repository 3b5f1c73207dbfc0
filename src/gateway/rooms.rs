//! The rooms a connection's user may post to and subscribe to, looked up
//! once per connection (membership is never revoked). An unknown room (or a
//! private one the user is not in) ends the session with the same ERROR.
//!
//! It must not decide who may enter a room: [`Chat::enter_room`] does.

use std::collections::HashMap;

use super::ending::End;
use crate::chat::{Chat, ChatError};
use crate::domain::RoomName;
use crate::store::Room;

#[derive(Default)]
pub struct Rooms {
    entered: HashMap<RoomName, Room>,
}

impl Rooms {
    /// Room `name` for `user_id`; the error ends the session, echoing the
    /// frame's `receipt`.
    pub async fn enter(
        &mut self,
        chat: &Chat,
        user_id: i64,
        name: &RoomName,
        receipt: Option<&str>,
    ) -> Result<Room, End> {
        if let Some(room) = self.entered.get(name) {
            return Ok(room.clone());
        }
        match chat.enter_room(user_id, name).await {
            Ok(room) => {
                self.entered.insert(name.clone(), room.clone());
                Ok(room)
            }
            Err(ChatError::RoomNotFound) => Err(End::error("room not found", receipt)),
            Err(other) => {
                tracing::error!(error = %other, "room lookup failed");
                Err(End::error("server error", receipt))
            }
        }
    }
}
