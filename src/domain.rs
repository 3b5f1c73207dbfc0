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
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Idempotency key of a send (`client-id` / `Idempotency-Key`): 1–64 chars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);
newtype_str!(ClientId);

impl ClientId {
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        if (1..=64).contains(&s.chars().count()) {
            Ok(ClientId(s.to_string()))
        } else {
            Err("client id must be 1-64 characters")
        }
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
