//! Opaque refresh tokens: 256 random bits, base64url; only their SHA-256 is
//! stored. Tokens of one login share a family so reuse of a rotated token
//! can revoke every descendant.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new token to hand to the client, and the hash to store.
pub struct NewRefreshToken {
    pub token: String,
    pub hash: Vec<u8>,
}

pub fn generate() -> NewRefreshToken {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    NewRefreshToken { token, hash }
}

pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

pub fn new_family() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_long_random_and_hashed() {
        let a = super::generate();
        let b = super::generate();
        assert_ne!(a.token, b.token);
        assert_eq!(a.token.len(), 43, "256 bits in base64url");
        assert_eq!(a.hash, super::hash(&a.token));
        assert_eq!(a.hash.len(), 32);
    }
}
