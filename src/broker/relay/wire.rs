//! The relay's wire format, shared by its publishing and subscribing
//! sides: channel names, the marks that tell a room channel's payloads
//! apart, the event as read back, the retry timing. A leaf: it imports no
//! other file of the relay.
//!
//! A room's channel (`parley:room:<id>`) carries its events (the event's
//! JSON object, as clients get it), its activity signals (after
//! [`ACTIVITY_MARK`]) and, in a Redis Cluster, the signals that must stay in
//! order with its messages (after [`SIGNAL_MARK`]). Every other signal goes
//! on [`SIGNALS_CHANNEL`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

use super::super::published::{EventAt, Published};
use crate::store::EventKind;
use crate::views::Activity;

const CHANNEL_PREFIX: &str = "parley:room:";
/// Where every instance hears the signals (membership changes, blocks,
/// presence): few and small, so one channel that every instance subscribes
/// to (in a cluster, one shard channel).
pub const SIGNALS_CHANNEL: &str = "parley:signals";
/// What an activity signal starts with on its room's channel (an event
/// starts with `{`).
const ACTIVITY_MARK: &[u8] = b"a";
/// What a signal starts with on its room's channel (in a cluster, where the
/// signals channel is on another shard than the room, so only the room's
/// channel keeps it in order with the room's messages).
const SIGNAL_MARK: &[u8] = b"r";
/// Reconnection and publish retries back off from this...
pub const BACKOFF_START: Duration = Duration::from_millis(100);
/// ... doubling up to this.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Longest wait for Redis to connect or answer.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// The channel of `room_id`.
pub fn channel(room_id: i64) -> String {
    format!("{CHANNEL_PREFIX}{room_id}")
}

/// The room whose channel `channel` is.
pub fn room_of(channel: &str) -> Option<i64> {
    channel.strip_prefix(CHANNEL_PREFIX)?.parse().ok()
}

/// The next backoff after `backoff`.
pub fn backoff_after(backoff: Duration) -> Duration {
    (backoff * 2).min(BACKOFF_MAX)
}

/// One payload for one channel, as the publisher sends it.
pub struct Outgoing {
    pub channel: String,
    pub payload: Bytes,
}

impl Outgoing {
    /// A committed event on its room's channel.
    pub fn event(message: &Published) -> Self {
        Outgoing {
            channel: channel(message.room_id),
            payload: message.json.clone(),
        }
    }

    /// An activity signal on its room's channel.
    pub fn activity(room_id: i64, activity: &Activity) -> Self {
        Outgoing {
            channel: channel(room_id),
            payload: marked(ACTIVITY_MARK, &activity.to_json()),
        }
    }

    /// A signal on the signals channel.
    pub fn signal(json: Bytes) -> Self {
        Outgoing {
            channel: SIGNALS_CHANNEL.to_string(),
            payload: json,
        }
    }

    /// A signal on its room's channel, in order with the room's messages.
    pub fn room_signal(room_id: i64, json: &[u8]) -> Self {
        Outgoing {
            channel: channel(room_id),
            payload: marked(SIGNAL_MARK, json),
        }
    }
}

fn marked(mark: &[u8], json: &[u8]) -> Bytes {
    let mut payload = Vec::with_capacity(mark.len() + json.len());
    payload.extend_from_slice(mark);
    payload.extend_from_slice(json);
    Bytes::from(payload)
}

/// What arrived on a channel.
pub enum Incoming<'a> {
    /// A committed event of its room.
    Event(Arc<Published>),
    Activity(i64, Activity),
    /// A signal's JSON.
    Signal(&'a [u8]),
    Malformed,
}

/// What the relay reads of an event's JSON as published (the contract's
/// event object); the bytes themselves are delivered as they are.
#[derive(Deserialize)]
struct WireEvent {
    id: i64,
    room: String,
    seq: i64,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    sender: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

/// Reads what arrived on `channel`.
pub fn decode<'a>(channel: &str, payload: &'a [u8]) -> Incoming<'a> {
    if channel == SIGNALS_CHANNEL {
        return Incoming::Signal(payload);
    }
    let Some(room_id) = room_of(channel) else {
        return Incoming::Malformed;
    };
    if let Some(json) = payload.strip_prefix(SIGNAL_MARK) {
        return Incoming::Signal(json);
    }
    if let Some(json) = payload.strip_prefix(ACTIVITY_MARK) {
        return match serde_json::from_slice::<Activity>(json) {
            Ok(activity) => Incoming::Activity(room_id, activity),
            Err(_) => Incoming::Malformed,
        };
    }
    let parsed = serde_json::from_slice::<WireEvent>(payload)
        .ok()
        .and_then(|w| Some((EventKind::parse(&w.kind)?, w)));
    let Some((kind, w)) = parsed else {
        return Incoming::Malformed;
    };
    let lag = (chrono::Utc::now() - w.created_at)
        .num_microseconds()
        .unwrap_or(0);
    metrics::histogram!(crate::metrics::RELAY_LAG).record(lag.max(0) as f64 / 1e6);
    let at = EventAt {
        room_id,
        id: w.id,
        room: &w.room,
        seq: w.seq,
    };
    let json = Bytes::copy_from_slice(payload);
    Incoming::Event(Arc::new(Published::encode(
        at,
        kind.as_str(),
        &w.sender,
        json,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_channels_name_their_room() {
        assert_eq!(channel(42), "parley:room:42");
        assert_eq!(room_of("parley:room:42"), Some(42));
        assert_eq!(room_of(SIGNALS_CHANNEL), None);
    }

    #[test]
    fn a_room_channel_tells_signals_and_activity_from_events() {
        let signal = Outgoing::room_signal(7, br#"{"signal":"revoked"}"#);
        assert_eq!(signal.channel, "parley:room:7");
        assert!(matches!(
            decode(&signal.channel, &signal.payload),
            Incoming::Signal(json) if json == br#"{"signal":"revoked"}"#
        ));
        let typing = Activity::Typing {
            user: "ann".into(),
            expires_in_ms: 6000,
        };
        let activity = Outgoing::activity(7, &typing);
        assert!(matches!(
            decode(&activity.channel, &activity.payload),
            Incoming::Activity(7, Activity::Typing { .. })
        ));
        assert!(matches!(
            decode("parley:room:7", b"{\"not\":\"an event\"}"),
            Incoming::Malformed
        ));
        assert!(matches!(
            decode(SIGNALS_CHANNEL, b"{}"),
            Incoming::Signal(b"{}")
        ));
    }
}
