//! Signed file URLs (docs/SECURITY.md, "Files"): `url` and `thumbnail_url`
//! of a file object work without a token until they expire, and only
//! unaltered. The signature is an HMAC-SHA256 over the file id, which
//! object (original or thumbnail) and the expiry, keyed by a key derived
//! from the access-token key: every instance computes the same key, and a
//! check needs no database.
//!
//! A URL names no user: the same URL is rendered once for a message's whole
//! audience (a live event is encoded once for every subscriber), and it
//! stays valid for its lifetime (`FILE_URL_TTL_SECS`) even for someone who
//! leaves the room meanwhile. A request with a Bearer token instead is
//! checked against the room at once.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::storage::Variant;

static KEY: OnceLock<[u8; 32]> = OnceLock::new();
static TTL_SECS: OnceLock<i64> = OnceLock::new();

/// Default URL lifetime until [`install`] (README, "Files").
const DEFAULT_TTL_SECS: i64 = 3600;

/// Sets the key (derived from `jwt_secret`) and the URL lifetime; called
/// once at start. Later calls in the same process keep the first values.
pub fn install(jwt_secret: &[u8], ttl_secs: u64) {
    let mut hasher = Sha256::new();
    hasher.update(b"parley file urls\n");
    hasher.update(jwt_secret);
    let _ = KEY.set(hasher.finalize().into());
    let _ = TTL_SECS.set(i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2));
}

fn key() -> &'static [u8; 32] {
    KEY.get_or_init(|| {
        use rand::RngCore;
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        key
    })
}

fn signature(file_id: &str, variant: Variant, expires: i64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key()).expect("HMAC takes any key length");
    let variant = match variant {
        Variant::Original => "original",
        Variant::Thumbnail => "thumbnail",
    };
    mac.update(format!("parley-file-v1\n{file_id}\n{variant}\n{expires}").as_bytes());
    mac
}

/// The signed URL of `file_id`'s `variant`, valid for the configured
/// lifetime from `now` (Unix seconds).
pub fn url(file_id: &str, variant: Variant, now: i64) -> String {
    let expires = now.saturating_add(*TTL_SECS.get().unwrap_or(&DEFAULT_TTL_SECS));
    let sig = URL_SAFE_NO_PAD.encode(signature(file_id, variant, expires).finalize().into_bytes());
    let path = match variant {
        Variant::Original => format!("/api/v1/files/{file_id}"),
        Variant::Thumbnail => format!("/api/v1/files/{file_id}/thumbnail"),
    };
    format!("{path}?expires={expires}&sig={sig}")
}

/// Whether `sig` signs (`file_id`, `variant`, `expires`) and `expires` is
/// not past `now`. Compared in constant time.
pub fn verify(file_id: &str, variant: Variant, expires: i64, sig: &str, now: i64) -> bool {
    let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
        return false;
    };
    expires >= now
        && signature(file_id, variant, expires)
            .verify_slice(&sig)
            .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (i64, String) {
        let query = url.split_once('?').unwrap().1;
        let mut expires = 0;
        let mut sig = String::new();
        for pair in query.split('&') {
            match pair.split_once('=').unwrap() {
                ("expires", v) => expires = v.parse().unwrap(),
                ("sig", v) => sig = v.to_string(),
                _ => {}
            }
        }
        (expires, sig)
    }

    #[test]
    fn a_signed_url_verifies_until_it_expires() {
        let url = url("abc", Variant::Original, 1_000);
        let (expires, sig) = parts(&url);
        assert!(url.starts_with("/api/v1/files/abc?"));
        assert!(verify("abc", Variant::Original, expires, &sig, 1_000));
        assert!(verify("abc", Variant::Original, expires, &sig, expires));
        assert!(!verify(
            "abc",
            Variant::Original,
            expires,
            &sig,
            expires + 1
        ));
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let (expires, sig) = parts(&url("abc", Variant::Original, 1_000));
        assert!(!verify("abd", Variant::Original, expires, &sig, 1_000));
        assert!(!verify("abc", Variant::Thumbnail, expires, &sig, 1_000));
        assert!(!verify("abc", Variant::Original, expires + 1, &sig, 1_000));
        let mut altered = sig.clone().into_bytes();
        altered[0] = if altered[0] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert!(!verify("abc", Variant::Original, expires, &altered, 1_000));
        assert!(!verify("abc", Variant::Original, expires, "!!", 1_000));
    }
}
