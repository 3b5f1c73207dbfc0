//! Header escaping (STOMP 1.2 "Value Encoding") and the writing of whole
//! frames, shared by the server encoder and the test-client encoder.
//!
//! Only this file knows which octets are escaped in which version.

use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};

use super::Version;
use super::decode::FrameError;

/// How header names and values are written on the wire in one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Escaping {
    /// STOMP 1.0, and CONNECT / STOMP / CONNECTED in every version.
    Raw = 0,
    /// `\n`, `\c`, `\\`.
    V11 = 1,
    /// `\r`, `\n`, `\c`, `\\`.
    V12 = 2,
}

impl Escaping {
    /// `raw_frame`: the spec leaves CONNECT, STOMP and CONNECTED unescaped
    /// whatever the version, so that a peer can read them before any version
    /// is agreed.
    pub(crate) fn new(version: Version, raw_frame: bool) -> Self {
        match version {
            _ if raw_frame => Escaping::Raw,
            Version::V1_0 => Escaping::Raw,
            Version::V1_1 => Escaping::V11,
            Version::V1_2 => Escaping::V12,
        }
    }
}

/// Decodes one header name or value as read off the wire.
pub(crate) fn unescape(raw: &[u8], escaping: Escaping) -> Result<String, FrameError> {
    if escaping == Escaping::Raw || !raw.contains(&b'\\') {
        return utf8(raw.to_vec());
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut octets = raw.iter();
    while let Some(&b) = octets.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        out.push(match (octets.next(), escaping) {
            (Some(b'n'), _) => b'\n',
            (Some(b'c'), _) => b':',
            (Some(b'\\'), _) => b'\\',
            (Some(b'r'), Escaping::V12) => b'\r',
            // Includes `\r` in 1.1 and a trailing lone backslash.
            _ => return Err(FrameError::UndefinedEscape),
        });
    }
    utf8(out)
}

fn utf8(bytes: Vec<u8>) -> Result<String, FrameError> {
    String::from_utf8(bytes).map_err(|_| FrameError::InvalidUtf8)
}

/// Appends `s` escaped for `escaping`.
///
/// Unescaped frames cannot carry CR or LF (nor `:` in a name) at all; such
/// octets become `' '` (`'_'` in a name) so that the frame stays well-formed.
/// Values the server writes there (CONNECTED) are its own and never hold them.
///
/// In 1.1 a CR is written as is; a value ending in CR is therefore read back
/// without it by lenient (CRLF-accepting) peers, ours included.
pub(crate) fn write_escaped(out: &mut BytesMut, s: &str, escaping: Escaping, is_name: bool) {
    let special = |b: &u8| matches!(b, b'\\' | b'\n' | b'\r' | b':');
    if !s.as_bytes().iter().any(special) {
        out.put_slice(s.as_bytes());
        return;
    }
    for &b in s.as_bytes() {
        match (b, escaping) {
            (b'\\', Escaping::V11 | Escaping::V12) => out.put_slice(b"\\\\"),
            (b'\n', Escaping::V11 | Escaping::V12) => out.put_slice(b"\\n"),
            (b':', Escaping::V11 | Escaping::V12) => out.put_slice(b"\\c"),
            (b'\r', Escaping::V12) => out.put_slice(b"\\r"),
            (b'\n' | b'\r', Escaping::Raw) => out.put_u8(b' '),
            (b':', Escaping::Raw) if is_name => out.put_u8(b'_'),
            _ => out.put_u8(b),
        }
    }
}

/// Appends `name:value` and LF.
pub(crate) fn write_header(out: &mut BytesMut, name: &str, value: &str, escaping: Escaping) {
    write_escaped(out, name, escaping, true);
    out.put_u8(b':');
    write_escaped(out, value, escaping, false);
    out.put_u8(b'\n');
}

/// Appends `content-length:N` and LF.
pub(crate) fn write_content_length(out: &mut BytesMut, len: usize) {
    // Writing into a BytesMut cannot fail.
    let _ = writeln!(out, "content-length:{len}");
}

/// Appends a whole frame: command, headers in the given order, then
/// `content-length` when there is a body, blank line, body, NUL.
///
/// The encoder owns `content-length`: one given in `headers` is dropped, so a
/// frame can never announce a length other than its body's.
pub(crate) fn write_frame<'a>(
    out: &mut BytesMut,
    command: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    body: &[u8],
    escaping: Escaping,
) {
    out.put_slice(command.as_bytes());
    out.put_u8(b'\n');
    for (name, value) in headers {
        if name != "content-length" {
            write_header(out, name, value, escaping);
        }
    }
    if !body.is_empty() {
        write_content_length(out, body.len());
    }
    out.put_u8(b'\n');
    out.put_slice(body);
    out.put_u8(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str, escaping: Escaping) -> String {
        let mut out = BytesMut::new();
        write_escaped(&mut out, s, escaping, false);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn escaping_1_2_covers_cr_lf_colon_and_backslash() {
        assert_eq!(escaped("a\r\n:\\b", Escaping::V12), "a\\r\\n\\c\\\\b");
    }

    #[test]
    fn escaping_1_1_leaves_cr_alone() {
        assert_eq!(escaped("a\r\n:\\b", Escaping::V11), "a\r\\n\\c\\\\b");
    }

    #[test]
    fn raw_frames_cannot_carry_line_breaks() {
        assert_eq!(escaped("a\r\n:\\b", Escaping::Raw), "a  :\\b");
        let mut out = BytesMut::new();
        write_escaped(&mut out, "x:y", Escaping::Raw, true);
        assert_eq!(&out[..], b"x_y", "a colon would split a raw header name");
    }

    #[test]
    fn unescaping_1_2() {
        let got = unescape(b"a\\r\\n\\c\\\\b", Escaping::V12).unwrap();
        assert_eq!(got, "a\r\n:\\b");
    }

    #[test]
    fn unescaping_1_1_has_no_cr_escape() {
        assert_eq!(unescape(b"a\\n\\c\\\\b", Escaping::V11).unwrap(), "a\n:\\b");
        assert_eq!(
            unescape(b"a\\rb", Escaping::V11),
            Err(FrameError::UndefinedEscape),
            "\\r is only defined from 1.2 on"
        );
    }

    #[test]
    fn undefined_escapes_are_errors() {
        for bad in [&b"\\t"[..], b"a\\", b"\\", b"\\C", b"\\\xc3\xa9"] {
            assert_eq!(
                unescape(bad, Escaping::V12),
                Err(FrameError::UndefinedEscape),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn raw_values_keep_backslashes() {
        assert_eq!(unescape(b"a\\tb", Escaping::Raw).unwrap(), "a\\tb");
    }
}
