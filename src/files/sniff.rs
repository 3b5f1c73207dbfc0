//! What an upload is and how it may be served (README, "Files"): its
//! content type sniffed from its first bytes (the declared type only where
//! the bytes do not tell), its name checked, and whether a browser may show
//! it inline on Parley's origin.

/// Bytes of an upload's beginning kept for sniffing and for reading an
/// image's header (a JPEG's size may follow 64 KiB of EXIF).
pub const HEAD_BYTES: usize = 256 * 1024;

/// Longest file name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// Types served `inline`; everything else is an `attachment`, so an HTML or
/// SVG file is never rendered by the browser on Parley's origin.
const INLINE: [&str; 5] = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "text/plain",
];

/// A file name as given: 1–255 bytes, no `/`, `\` or control characters.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

/// The content type of an upload whose first bytes are `head`: what the
/// bytes are, else the declared type (its essence, lowercased, when it is
/// well-formed), else `application/octet-stream`.
pub fn content_type(head: &[u8], declared: Option<&str>) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_string();
    }
    declared
        .and_then(essence)
        .unwrap_or_else(|| "application/octet-stream".to_string())
}

/// `type/subtype` of a media type, without parameters, lowercased; None
/// when it is not of that form.
fn essence(declared: &str) -> Option<String> {
    let essence = declared.split(';').next()?.trim().to_ascii_lowercase();
    let (kind, sub) = essence.split_once('/')?;
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    (token(kind) && token(sub)).then_some(essence)
}

/// Whether a file of `content_type` is served `inline`.
pub fn inline(content_type: &str) -> bool {
    INLINE.contains(&content_type)
}

/// The `Content-Disposition` value for `name`: `inline` or `attachment`,
/// an ASCII `filename` fallback and the exact name as
/// `filename*=UTF-8''…` (RFC 6266).
pub fn disposition(content_type: &str, name: &str) -> String {
    let kind = if inline(content_type) {
        "inline"
    } else {
        "attachment"
    };
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(name, ATTR_CHAR);
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// Everything but RFC 5987's `attr-char` is percent-encoded.
const ATTR_CHAR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("report 2026.pdf"));
        assert!(valid_name("ünïcödé.txt"));
        for bad in ["", "a/b", "a\\b", "a\nb", "a\u{0}b", &"x".repeat(256)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(valid_name(&"x".repeat(255)));
    }

    #[test]
    fn the_bytes_win_over_the_declared_type() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(content_type(png, Some("text/plain")), "image/png");
        assert_eq!(
            content_type(b"hello", Some("Text/Plain; charset=utf-8")),
            "text/plain"
        );
        assert_eq!(content_type(b"hello", None), "application/octet-stream");
        assert_eq!(
            content_type(b"hello", Some("not a type")),
            "application/octet-stream"
        );
    }

    #[test]
    fn only_safe_types_are_inline() {
        assert!(inline("image/png") && inline("text/plain"));
        assert!(!inline("text/html") && !inline("image/svg+xml"));
        assert_eq!(
            disposition("text/html", "a \"b\".html"),
            "attachment; filename=\"a _b_.html\"; filename*=UTF-8''a%20%22b%22.html"
        );
        assert_eq!(
            disposition("image/png", "é.png"),
            "inline; filename=\"_.png\"; filename*=UTF-8''%C3%A9.png"
        );
    }
}
