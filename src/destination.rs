//! How a room is named on the wire: the STOMP destinations
//! `/topic/rooms/{room}` (its log) and `/topic/rooms/{room}/activity` (its
//! ephemeral signals: typing, read markers, presence, membership).
//!
//! Shared by the session (which reads destinations from SUBSCRIBE and SEND)
//! and the broker (which writes them into MESSAGE frames), so neither has to
//! import the other. Pure, and it knows nothing else.

use crate::domain::RoomName;

pub const DESTINATION_PREFIX: &str = "/topic/rooms/";
const ACTIVITY_SUFFIX: &str = "/activity";

/// What a destination names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A room's log.
    Room(RoomName),
    /// A room's activity.
    Activity(RoomName),
}

/// The destination of `room`'s messages.
pub fn of_room(room: &str) -> String {
    format!("{DESTINATION_PREFIX}{room}")
}

/// The destination of `room`'s activity.
pub fn of_activity(room: &str) -> String {
    format!("{DESTINATION_PREFIX}{room}{ACTIVITY_SUFFIX}")
}

/// What a destination names, when it names a valid room's log or activity.
pub fn parse(destination: &str) -> Option<Destination> {
    let rest = destination.strip_prefix(DESTINATION_PREFIX)?;
    match rest.strip_suffix(ACTIVITY_SUFFIX) {
        Some(name) => RoomName::parse(name).ok().map(Destination::Activity),
        None => RoomName::parse(rest).ok().map(Destination::Room),
    }
}

/// The room whose log a destination names, when it names a valid one.
pub fn room_of(destination: &str) -> Option<RoomName> {
    match parse(destination)? {
        Destination::Room(room) => Some(room),
        Destination::Activity(_) => None,
    }
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

    #[test]
    fn activity_is_its_own_destination() {
        let d = of_activity("general");
        assert_eq!(d, "/topic/rooms/general/activity");
        let general = RoomName::parse("general").unwrap();
        assert_eq!(parse(&d), Some(Destination::Activity(general.clone())));
        assert_eq!(
            parse("/topic/rooms/general"),
            Some(Destination::Room(general))
        );
        assert!(room_of(&d).is_none(), "activity is not the room's log");
        assert!(parse("/topic/rooms/general/other").is_none());
        assert!(parse("/topic/rooms//activity").is_none());
    }
}
