//! The message body: `<send time ns>:<publisher id>:<counter>:` padded with
//! `x` to the requested size. ASCII only, so it is the same bytes in
//! Parley's JSON `body` field (no escaping) and in a raw broker body.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::Deserialize;

/// What a publisher stamps into each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Nanoseconds since the run's shared `Instant` epoch.
    pub sent_ns: u64,
    pub publisher: u32,
    pub counter: u64,
}

pub fn encode(out: &mut String, stamp: Stamp, size: usize) {
    out.clear();
    let _ = write!(
        out,
        "{}:{}:{}:",
        stamp.sent_ns, stamp.publisher, stamp.counter
    );
    while out.len() < size {
        out.push('x');
    }
}

pub fn decode(payload: &[u8]) -> Option<Stamp> {
    let mut parts = payload.splitn(4, |&b| b == b':');
    let sent_ns = parse_u64(parts.next()?)?;
    let publisher = u32::try_from(parse_u64(parts.next()?)?).ok()?;
    let counter = parse_u64(parts.next()?)?;
    parts.next()?; // the padding (possibly empty) must follow a ':'
    Some(Stamp {
        sent_ns,
        publisher,
        counter,
    })
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// Parley's message object; every other field is ignored.
#[derive(Deserialize)]
struct ChatMessage<'a> {
    seq: Option<i64>,
    #[serde(borrow)]
    body: Cow<'a, str>,
}

/// The payload of a MESSAGE frame body, and Parley's `seq` when the body is
/// Parley's JSON message object. Anything that is not such an object is
/// taken as the raw payload (RabbitMQ and other brokers).
pub fn unwrap_body(frame_body: &[u8]) -> (Cow<'_, [u8]>, Option<i64>) {
    if frame_body.first() == Some(&b'{')
        && let Ok(m) = serde_json::from_slice::<ChatMessage<'_>>(frame_body)
    {
        let body = match m.body {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        };
        return (body, m.seq);
    }
    (Cow::Borrowed(frame_body), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_padding() {
        let s = Stamp {
            sent_ns: 123_456_789,
            publisher: 7,
            counter: 42,
        };
        let mut out = String::new();
        encode(&mut out, s, 64);
        assert_eq!(out.len(), 64);
        assert!(out.starts_with("123456789:7:42:x"));
        assert_eq!(decode(out.as_bytes()), Some(s));
        encode(&mut out, s, 1);
        assert_eq!(out, "123456789:7:42:");
        assert_eq!(decode(out.as_bytes()), Some(s));
        assert_eq!(decode(b"12:3"), None);
        assert_eq!(decode(b"a:1:2:"), None);
    }

    #[test]
    fn unwraps_parley_json_and_raw_bodies() {
        let json = br#"{"id":1,"room":"r0","seq":9,"sender":"u","body":"5:1:2:xx","client_id":null,"created_at":"t"}"#;
        let (p, seq) = unwrap_body(json);
        assert_eq!(&*p, b"5:1:2:xx");
        assert_eq!(seq, Some(9));
        let (p, seq) = unwrap_body(b"5:1:2:xx");
        assert_eq!(&*p, b"5:1:2:xx");
        assert_eq!(seq, None);
    }
}
