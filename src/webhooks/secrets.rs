//! The secrets of webhooks. An incoming webhook's URL carries 256 random
//! bits; only their SHA-256 is stored and a presented secret is compared
//! with it in constant time. An outgoing webhook's or command's signing key
//! (256 bits) is shown once as `whsec_<base64>` and kept as given, since
//! every signature needs it (docs/SECURITY.md).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A new incoming webhook's URL secret and the hash to store.
pub fn new_url_secret() -> (String, Vec<u8>) {
    let secret = URL_SAFE_NO_PAD.encode(random_bytes());
    let hash = Sha256::digest(secret.as_bytes()).to_vec();
    (secret, hash)
}

/// Whether `presented` is the secret whose hash is `stored`, in constant
/// time (the length of a SHA-256 is no secret).
pub fn url_secret_matches(presented: &str, stored: &[u8]) -> bool {
    let hash = Sha256::digest(presented.as_bytes());
    hash.as_slice().ct_eq(stored).into()
}

/// A new signing key, and how it is shown: `whsec_<base64 key>`.
pub fn new_signing_key() -> (Vec<u8>, String) {
    let key = random_bytes();
    (key.to_vec(), format!("whsec_{}", STANDARD.encode(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_secrets_match_only_themselves() {
        let (secret, hash) = new_url_secret();
        assert!(url_secret_matches(&secret, &hash));
        assert!(!url_secret_matches(&format!("{secret}x"), &hash));
        let (other, _) = new_url_secret();
        assert!(!url_secret_matches(&other, &hash));
        assert_eq!(secret.len(), 43);
    }

    #[test]
    fn signing_keys_are_shown_as_whsec() {
        let (key, shown) = new_signing_key();
        let b64 = shown.strip_prefix("whsec_").expect("whsec_ prefix");
        assert_eq!(STANDARD.decode(b64).unwrap(), key);
    }
}
