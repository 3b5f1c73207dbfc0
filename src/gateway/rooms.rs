//! The rooms a connection's user may post to and subscribe to, looked up
//! once per connection and trusted until the `revocation` service records
//! that the user lost access (left, removed, banned, room deleted: README,
//! "Members, moderation and blocking"). An unknown room (or a private one the user
//! is not in, or one they are banned from) ends the session with the same
//! ERROR, and so does a SEND to a room the connection lost access to; a
//! SUBSCRIBE there looks again (a public room is joined again).
//!
//! It must not decide who may enter a room: [`crate::chat::Chat::enter_room`]
//! does.

use std::collections::{HashMap, HashSet};

use super::ending::End;
use crate::auth::AuthUser;
use crate::chat::ChatError;
use crate::domain::RoomName;
use crate::revocation::Revocations;
use crate::state::AppState;
use crate::store::Room;

/// Why a room is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Send,
    Subscribe,
    /// Its activity: seeing the room is enough (it is not joined).
    Watch,
}

struct Entered {
    room: Room,
    /// The revocation mark before access was checked.
    mark: u64,
    /// The user is a member (posting and subscribing join a public room;
    /// watching does not).
    member: bool,
}

#[derive(Default)]
pub struct Rooms {
    entered: HashMap<RoomName, Entered>,
    /// Rooms this connection lost access to.
    revoked: HashSet<RoomName>,
}

impl Rooms {
    /// Room `name` for `user_id`, with the revocation mark it was checked
    /// at; the error ends the session, echoing the frame's `receipt`.
    pub async fn enter(
        &mut self,
        state: &AppState,
        user: &AuthUser,
        name: &RoomName,
        purpose: Purpose,
        receipt: Option<&str>,
    ) -> Result<(Room, u64), End> {
        let (chat, revocations) = (&state.chat, &state.revocations);
        let user_id = user.id;
        if let Some(entered) = self.entered.get(name) {
            if revocations.revoked_since(entered.room.id, user_id, entered.mark) {
                self.entered.remove(name);
                self.revoked.insert(name.clone());
            } else if entered.member || purpose == Purpose::Watch {
                return Ok((entered.room.clone(), entered.mark));
            }
        }
        if purpose == Purpose::Send && self.revoked.contains(name) {
            return Err(not_found(receipt));
        }
        let mark = revocations.mark();
        let found = match purpose {
            Purpose::Watch => chat
                .see_room(user_id, name)
                .await
                .map(|v| (v.is_member(), v.room)),
            Purpose::Send | Purpose::Subscribe => {
                chat.enter_room(user, name).await.map(|room| (true, room))
            }
        };
        match found {
            Ok((member, room)) => {
                self.revoked.remove(name);
                let entered = Entered {
                    room: room.clone(),
                    mark,
                    member,
                };
                self.entered.insert(name.clone(), entered);
                Ok((room, mark))
            }
            Err(ChatError::RoomNotFound) => Err(not_found(receipt)),
            Err(other) => {
                tracing::error!(error = %other, "room lookup failed");
                Err(End::error("server error", receipt))
            }
        }
    }

    /// Whether the user is a member of `room` as last checked here.
    pub fn is_member(&self, room: &Room) -> bool {
        RoomName::parse(&room.name)
            .ok()
            .and_then(|name| self.entered.get(&name))
            .is_some_and(|e| e.member)
    }

    /// Whether access to `room` checked at `mark` still holds (a
    /// subscription registered after the check asks, so a revocation in
    /// between is not missed).
    pub fn still_open(
        &mut self,
        revocations: &Revocations,
        room: &Room,
        user_id: i64,
        mark: u64,
    ) -> bool {
        if !revocations.revoked_since(room.id, user_id, mark) {
            return true;
        }
        if let Ok(name) = RoomName::parse(&room.name) {
            self.entered.remove(&name);
            self.revoked.insert(name);
        }
        false
    }
}

fn not_found(receipt: Option<&str>) -> End {
    End::error("room not found", receipt)
}
