//! How a room is named on the wire: the STOMP destinations
//! `/topic/rooms/{room}` (its log) and `/topic/rooms/{room}/activity` (its
//! ephemeral signals: typing, read markers, presence, membership); and the
//! user destination `/user/queue/updates` (the subscriber's room list).
//!
//! Shared by the session (which reads destinations from SUBSCRIBE and SEND)
//! and the broker (which writes them into MESSAGE frames), so neither has to
//! import the other. Pure, and it knows nothing else.

use crate::domain::RoomName;

pub const DESTINATION_PREFIX: &str = "/topic/rooms/";
const ACTIVITY_SUFFIX: &str = "/activity";
/// The user destination: changes of the subscriber's own room list
/// (Spring's convention: `/user/…` names the subscriber's own queue).
pub const USER_UPDATES: &str = "/user/queue/updates";

/// What a destination names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A room's log.
    Room(RoomName),
    /// A room's activity.
    Activity(RoomName),
    /// The subscriber's own room list ([`USER_UPDATES`]).
    UserUpdates,
}

/// The destination of `room`'s messages.
pub fn of_room(room: &str) -> String {
    format!("{DESTINATION_PREFIX}{room}")
}

/// The destination of `room`'s activity.
pub fn of_activity(room: &str) -> String {
    format!("{DESTINATION_PREFIX}{room}{ACTIVITY_SUFFIX}")
}

/// What a destination names, when it names a valid room's log or
/// activity, or the user destination (any other `/user/…` names nothing).
pub fn parse(destination: &str) -> Option<Destination> {
    if destination == USER_UPDATES {
        return Some(Destination::UserUpdates);
    }
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
        Destination::Activity(_) | Destination::UserUpdates => None,
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

    #[test]
    fn the_user_destination_is_only_ones_own_queue() {
        assert_eq!(parse("/user/queue/updates"), Some(Destination::UserUpdates));
        assert!(room_of("/user/queue/updates").is_none());
        for other in [
            "/user/queue/other",
            "/user/bob/queue/updates",
            "/user/queue/updates/",
            "/user/queue",
        ] {
            assert!(parse(other).is_none(), "{other}");
        }
    }
}
