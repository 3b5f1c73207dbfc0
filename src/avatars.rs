//! Signed avatar URLs (README, "Accounts"): a `user` object's `avatar_url`
//! is `/api/v1/avatars/{id}?expires=E&sig=S`, which answers without a
//! token until `E` and only unaltered, like a file's URL (README, "Files").
//! `S` is an HMAC-SHA256 over the avatar's id and `E`, keyed by a key
//! derived from the server's signing secret: checking it needs no database
//! read. An avatar's id is random and changes with every upload, so a URL
//! never shows a later picture, and a removed avatar's URL answers 404.
//!
//! `E` is rounded up to a multiple of half the lifetime, so the URL of one
//! avatar stays the same for a while (browsers cache it) and is valid for
//! between half and all of `FILE_URL_TTL_SECS`.
//!
//! A leaf: it knows nothing of storage, users or HTTP.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Why a signed avatar URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link expired")]
    Expired,
    #[error("the link is altered")]
    Invalid,
}

/// Signs and checks avatar URLs.
#[derive(Clone)]
pub struct AvatarLinks {
    key: [u8; 32],
    /// Half the lifetime of a URL, in seconds (at least 1).
    half_ttl: u64,
}

impl std::fmt::Debug for AvatarLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvatarLinks")
            .field("half_ttl", &self.half_ttl)
            .finish_non_exhaustive()
    }
}

impl AvatarLinks {
    /// Links signed with a key derived from `secret` (the server's signing
    /// secret), valid for at most `ttl_secs`.
    pub fn new(secret: &[u8], ttl_secs: u64) -> Self {
        let mut derive = Sha256::new();
        derive.update(b"parley avatar links\0");
        derive.update(secret);
        AvatarLinks {
            key: derive.finalize().into(),
            half_ttl: (ttl_secs / 2).max(1),
        }
    }

    /// The URL of avatar `id` at Unix time `now`.
    pub fn url(&self, id: &str, now: u64) -> String {
        let expires = (now / self.half_ttl + 2) * self.half_ttl;
        format!(
            "/api/v1/avatars/{id}?expires={expires}&sig={}",
            self.signature(id, expires)
        )
    }

    /// Whether `sig` signs avatar `id` until `expires`, and `now` is
    /// before then. Compared in constant time.
    pub fn check(&self, id: &str, expires: u64, sig: &str, now: u64) -> Result<(), LinkError> {
        let Ok(given) = hex_decode(sig) else {
            return Err(LinkError::Invalid);
        };
        self.mac(id, expires)
            .verify_slice(&given)
            .map_err(|_| LinkError::Invalid)?;
        if now >= expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }

    fn mac(&self, id: &str, expires: u64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b"\0");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    fn signature(&self, id: &str, expires: u64) -> String {
        let tag = self.mac(id, expires).finalize().into_bytes();
        tag.iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn hex_decode(s: &str) -> Result<Vec<u8>, ()> {
    if s.len() != 64 || !s.is_ascii() {
        return Err(());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| ()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (String, u64, String) {
        let (path, query) = url.split_once('?').unwrap();
        let id = path.rsplit('/').next().unwrap().to_string();
        let mut expires = 0;
        let mut sig = String::new();
        for pair in query.split('&') {
            match pair.split_once('=').unwrap() {
                ("expires", e) => expires = e.parse().unwrap(),
                ("sig", s) => sig = s.to_string(),
                _ => panic!("unexpected parameter"),
            }
        }
        (id, expires, sig)
    }

    #[test]
    fn a_link_works_unaltered_until_it_expires() {
        let links = AvatarLinks::new(b"a secret of at least thirty-two bytes", 3600);
        let (id, expires, sig) = parts(&links.url("a1b2", 10_000));
        assert!((10_000 + 1800..=10_000 + 3600).contains(&expires));
        assert_eq!(links.check(&id, expires, &sig, 10_001), Ok(()));
        assert_eq!(
            links.check(&id, expires, &sig, expires),
            Err(LinkError::Expired)
        );
        assert_eq!(
            links.check("other", expires, &sig, 10_001),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            links.check(&id, expires + 1, &sig, 10_001),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            links.check(&id, expires, "zz", 10_001),
            Err(LinkError::Invalid)
        );
        let other = AvatarLinks::new(b"another secret of thirty-two bytes!", 3600);
        assert_eq!(
            other.check(&id, expires, &sig, 10_001),
            Err(LinkError::Invalid)
        );
    }

    #[test]
    fn a_link_stays_the_same_for_a_while() {
        let links = AvatarLinks::new(b"a secret of at least thirty-two bytes", 3600);
        assert_eq!(links.url("x", 3600), links.url("x", 3601));
    }
}
