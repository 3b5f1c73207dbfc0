//! How a room is named on the wire: the STOMP destination `/topic/rooms/{room}`.
//!
//! Shared by the session (which reads destinations from SUBSCRIBE and SEND)
//! and the broker (which writes them into MESSAGE frames), so neither has to
//! import the other. Pure, and it knows nothing else.

use crate::domain::RoomName;

pub const DESTINATION_PREFIX: &str = "/topic/rooms/";

/// The destination of `room`'s messages.
pub fn of_room(room: &str) -> String {
    format!("{DESTINATION_PREFIX}{room}")
}

/// The room a destination names, when it names a valid one.
pub fn room_of(destination: &str) -> Option<RoomName> {
    destination
        .strip_prefix(DESTINATION_PREFIX)
        .and_then(|name| RoomName::parse(name).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_round_trips_through_its_destination() {
        let d = of_room("general");
        assert_eq!(d, "/topic/rooms/general");
        assert_eq!(room_of(&d).as_ref().map(RoomName::as_str), Some("general"));
        assert!(room_of("/topic/other/general").is_none());
        assert!(room_of("/topic/rooms/").is_none());
    }
}
