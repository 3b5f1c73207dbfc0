//! Bot API tokens: `parley_bot_` then 256 random bits in base64url. The
//! prefix makes a leaked token recognisable (secret scanners) and tells the
//! edges to look it up instead of verifying a JWT. Only its SHA-256 is
//! stored: a hash of a high-entropy secret needs no salt or slow hash, and
//! an indexed hash is the lookup.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "parley_bot_";

/// A new token to show once, and the hash to store.
pub struct NewBotToken {
    pub token: String,
    pub hash: Vec<u8>,
}

pub fn generate() -> NewBotToken {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash(&token);
    NewBotToken { token, hash }
}

pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Whether `token` is a bot token (else it can only be an access token).
pub fn is_bot_token(token: &str) -> bool {
    token.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_prefixed_random_and_hashed() {
        let a = super::generate();
        let b = super::generate();
        assert_ne!(a.token, b.token);
        assert!(super::is_bot_token(&a.token));
        assert_eq!(
            a.token.len(),
            super::PREFIX.len() + 43,
            "256 bits in base64url"
        );
        assert_eq!(a.hash, super::hash(&a.token));
        assert!(!super::is_bot_token("eyJhbGciOiJIUzI1NiJ9.x.y"));
    }
}
