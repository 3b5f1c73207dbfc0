//! Validated newtypes for what clients send: checked once at the edge, then
//! trusted everywhere else.

use std::fmt;

macro_rules! newtype_str {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// 3–32 chars of `[A-Za-z0-9_.-]`; unique case-insensitively (the store
/// enforces that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);
newtype_str!(Username);

impl Username {
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if (3..=32).contains(&s.len()) && ok_chars {
            Ok(Username(s.to_string()))
        } else {
            Err("username must be 3-32 characters of A-Z, a-z, 0-9, _ . -")
        }
    }
}

/// 8–128 characters. Never logged: `Debug` is redacted.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let n = s.chars().count();
        if (8..=128).contains(&n) {
            Ok(Password(s.to_string()))
        } else {
            Err("password must be 8-128 characters")
        }
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// 1–64 chars of `[a-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomName(String);
newtype_str!(RoomName);

impl RoomName {
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'));
        if (1..=64).contains(&s.len()) && ok_chars {
            Ok(RoomName(s.to_string()))
        } else {
            Err("room name must be 1-64 characters of a-z, 0-9, _ -")
        }
    }
}

impl RoomName {
    /// Names a direct conversation has (`dm-…`): no room may be created
    /// with one.
    pub fn is_reserved(&self) -> bool {
        self.0.starts_with("dm-")
    }

    /// The name of the direct conversation of users `a` and `b`.
    pub fn direct(a: i64, b: i64) -> Self {
        RoomName(format!("dm-{}-{}", a.min(b), a.max(b)))
    }
}

/// A member's role in a room (README, "Members, moderation and blocking").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Member,
    Moderator,
    /// The creator; exactly one per room, none in a direct conversation.
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Moderator => "moderator",
            Role::Member => "member",
        }
    }

    /// `owner`, `moderator` or `member`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Role::Owner),
            "moderator" => Some(Role::Moderator),
            "member" => Some(Role::Member),
            _ => None,
        }
    }

    /// Owners and moderators moderate (add, remove, ban members).
    pub fn moderates(self) -> bool {
        self >= Role::Moderator
    }
}

/// Why a chat message body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("message body is empty")]
    Empty,
    #[error("message body is over {0} bytes")]
    TooLarge(usize),
    #[error("message body is not valid UTF-8")]
    InvalidUtf8,
    #[error("message body contains U+0000")]
    Nul,
}

/// A chat message body: valid UTF-8, 1..=max bytes, no U+0000.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody(String);
newtype_str!(MessageBody);

impl MessageBody {
    pub fn parse(bytes: &[u8], max: usize) -> Result<Self, BodyError> {
        if bytes.is_empty() {
            return Err(BodyError::Empty);
        }
        if bytes.len() > max {
            return Err(BodyError::TooLarge(max));
        }
        let s = std::str::from_utf8(bytes).map_err(|_| BodyError::InvalidUtf8)?;
        if s.contains('\0') {
            return Err(BodyError::Nul);
        }
        Ok(MessageBody(s.to_string()))
    }
    /// [`parse`](Self::parse), except that a message with attachments may
    /// have an empty body (README, "Files").
    pub fn parse_with(
        bytes: &[u8],
        max: usize,
        attachments: &Attachments,
    ) -> Result<Self, BodyError> {
        if bytes.is_empty() && !attachments.is_empty() {
            return Ok(MessageBody(String::new()));
        }
        Self::parse(bytes, max)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Most files one message carries (README, "Files").
pub const MAX_ATTACHMENTS: usize = 10;

/// The file ids a message attaches: at most [`MAX_ATTACHMENTS`], each a
/// file id (32 lowercase hex digits), none twice. Whether each is a file
/// the sender may attach is the log's question (`invalid_attachment`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attachments(Vec<String>);

impl Attachments {
    pub fn parse<S: AsRef<str>>(ids: &[S]) -> Result<Self, &'static str> {
        if ids.len() > MAX_ATTACHMENTS {
            return Err("at most 10 attachments");
        }
        let mut out: Vec<String> = Vec::with_capacity(ids.len());
        for id in ids {
            let id = id.as_ref();
            let valid = id.len() == 32
                && id
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !valid || out.iter().any(|o| o == id) {
                return Err("attachments must be distinct file ids");
            }
            out.push(id.to_string());
        }
        Ok(Attachments(out))
    }

    /// The STOMP header's form: `id1,id2` (empty: none).
    pub fn parse_header(value: &str) -> Result<Self, &'static str> {
        let ids: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        Self::parse(&ids)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

/// Longest identifier a client picks for the protocol (STOMP subscription
/// `id`, `transaction`, `receipt`), in characters.
pub const MAX_ID_CHARS: usize = 256;

/// Why an identifier chosen by a client was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must be 1-{0} characters")]
    Length(usize),
    #[error("must not contain control characters")]
    Control,
}

/// The one rule for every identifier a client chooses (`client-id`,
/// `Idempotency-Key`, subscription `id`, `transaction`, `receipt`): 1 to
/// `max_chars` characters and no control character (C0, DEL, C1). Such ids
/// are stored, echoed in headers and used as map keys, so they must be short
/// and printable; a NUL must never reach the database.
pub fn check_id(s: &str, max_chars: usize) -> Result<(), IdError> {
    if !(1..=max_chars).contains(&s.chars().count()) {
        return Err(IdError::Length(max_chars));
    }
    if s.chars().any(char::is_control) {
        return Err(IdError::Control);
    }
    Ok(())
}

/// Idempotency key of a send (`client-id` / `Idempotency-Key`): 1–64 chars,
/// no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);
newtype_str!(ClientId);

impl ClientId {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(s: &str) -> Result<Self, &'static str> {
        match check_id(s, Self::MAX_CHARS) {
            Ok(()) => Ok(ClientId(s.to_string())),
            Err(IdError::Length(_)) => Err("client id must be 1-64 characters"),
            Err(IdError::Control) => Err("client id must not contain control characters"),
        }
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A seq as a client writes it (a path segment, `in-reply-to`): decimal
/// digits only (no sign, no spaces), at least `min`.
pub fn parse_seq(s: &str, min: i64) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok().filter(|n| *n >= min)
}

/// A reaction's key (README, "The room log"): 1–32 bytes of UTF-8 without
/// whitespace or control characters, e.g. an emoji or `+1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionKey(String);
newtype_str!(ReactionKey);

impl ReactionKey {
    pub const MAX_BYTES: usize = 32;

    pub fn parse(s: &str) -> Result<Self, &'static str> {
        if s.is_empty() || s.len() > Self::MAX_BYTES {
            return Err("a reaction key must be 1-32 bytes");
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("a reaction key must not contain whitespace or control characters");
        }
        Ok(ReactionKey(s.to_string()))
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A profile's display name (README, "Accounts"): 1–64 characters, none of
/// them a control character. Shown beside the username, never instead of
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);
newtype_str!(DisplayName);

impl DisplayName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let chars = s.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS {
            return Err("display_name must be null or 1-64 characters");
        }
        if !shown_as_typed(s) {
            return Err("display_name must not contain control characters");
        }
        Ok(DisplayName(s.to_string()))
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A profile's status line: up to 140 characters, none of them a control
/// character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status(String);
newtype_str!(Status);

impl Status {
    pub const MAX_CHARS: usize = 140;

    pub fn parse(s: &str) -> Result<Self, &'static str> {
        if s.chars().count() > Self::MAX_CHARS {
            return Err("status must be null or at most 140 characters");
        }
        if !shown_as_typed(s) {
            return Err("status must not contain control characters");
        }
        Ok(Status(s.to_string()))
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Whether `s` has no control character: none of Unicode's `Cc` (C0, DEL,
/// C1: line breaks and tabs included), nor the characters that reorder or
/// break the text around them when shown (bidirectional embeddings,
/// overrides and isolates, line and paragraph separators), so a name
/// cannot make the text beside it read otherwise.
fn shown_as_typed(s: &str) -> bool {
    !s.chars().any(|c| {
        c.is_control()
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_and_statuses() {
        assert!(DisplayName::parse("Alice Liddell").is_ok());
        assert!(
            DisplayName::parse(&"é".repeat(64)).is_ok(),
            "characters, not bytes"
        );
        assert!(DisplayName::parse("").is_err());
        assert!(DisplayName::parse(&"a".repeat(65)).is_err());
        assert!(DisplayName::parse("a\nb").is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
        assert!(DisplayName::parse("evil\u{202E}txt.exe").is_err());
        assert!(Status::parse("").is_ok());
        assert!(Status::parse(&"ü".repeat(140)).is_ok());
        assert!(Status::parse(&"a".repeat(141)).is_err());
        assert!(Status::parse("away\tback soon").is_err());
    }

    #[test]
    fn usernames() {
        assert!(Username::parse("alice").is_ok());
        assert!(Username::parse("a.b-c_9").is_ok());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse("robert'); DROP TABLE users;--").is_err());
        assert!(Username::parse("élan").is_err());
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret-pw").unwrap()),
            "Password(<redacted>)"
        );
    }

    #[test]
    fn room_names() {
        assert!(RoomName::parse("general").is_ok());
        assert!(RoomName::parse("a").is_ok());
        assert!(RoomName::parse("General").is_err());
        assert!(RoomName::parse("").is_err());
        assert!(RoomName::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn ids_refuse_control_characters_and_excess_length() {
        assert!(check_id("r-1 ok", 64).is_ok());
        assert!(check_id("é", 1).is_ok());
        assert_eq!(check_id("", 64), Err(IdError::Length(64)));
        assert_eq!(check_id(&"x".repeat(65), 64), Err(IdError::Length(64)));
        for bad in ["a\0b", "a\nb", "a\rb", "\u{1b}[0m", "del\u{7f}", "c1\u{85}"] {
            assert_eq!(check_id(bad, 64), Err(IdError::Control), "{bad:?}");
            assert!(ClientId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ClientId::parse(&"x".repeat(64)).is_ok());
        assert!(ClientId::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn bodies() {
        assert_eq!(MessageBody::parse(b"", 10), Err(BodyError::Empty));
        assert_eq!(
            MessageBody::parse(b"12345678901", 10),
            Err(BodyError::TooLarge(10))
        );
        assert_eq!(MessageBody::parse(b"\xff", 10), Err(BodyError::InvalidUtf8));
        assert_eq!(MessageBody::parse(b"a\0b", 10), Err(BodyError::Nul));
        assert_eq!(
            MessageBody::parse("héllo".as_bytes(), 10).unwrap().as_str(),
            "héllo"
        );
    }

    #[test]
    fn seqs_are_digits_only() {
        assert_eq!(parse_seq("7", 1), Some(7));
        assert_eq!(parse_seq("0", 0), Some(0));
        for bad in [
            "",
            "0",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1e3",
            "99999999999999999999",
        ] {
            assert_eq!(parse_seq(bad, 1), None, "{bad:?}");
        }
    }

    #[test]
    fn reaction_keys() {
        for ok in ["👍", "+1", "🇺🇦", "a", "x".repeat(32).as_str()] {
            assert!(ReactionKey::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "\u{7}",
            "x\n",
            "\u{a0}",
            "x".repeat(33).as_str(),
            "👍👍👍👍👍👍👍👍👍",
        ] {
            assert!(ReactionKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
