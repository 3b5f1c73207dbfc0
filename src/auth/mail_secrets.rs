//! The secrets mailed to an account (README, "Accounts"; docs/SECURITY.md):
//! a 6-digit email code and a password-reset token, both from the OS's
//! random source and kept only as SHA-256 hashes. A code is hashed with its
//! account's id (six digits repeat across accounts); a token carries 256
//! bits and is found by its hash.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::{Rng, RngCore, rngs::OsRng};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new email code for `user_id`: (the code to mail, its hash to keep).
pub fn new_email_code(user_id: i64) -> (String, Vec<u8>) {
    let code = format!("{:06}", OsRng.gen_range(0..1_000_000u32));
    let hash = email_code_hash(user_id, &code);
    (code, hash)
}

pub fn email_code_hash(user_id: i64, code: &str) -> Vec<u8> {
    Sha256::digest(format!("email-code:{user_id}:{}", code.trim()).as_bytes()).to_vec()
}

/// Whether `code` is the one whose hash is `stored`, in constant time.
pub fn email_code_matches(user_id: i64, code: &str, stored: &[u8]) -> bool {
    email_code_hash(user_id, code).ct_eq(stored).into()
}

/// A new password-reset token: (the token to mail, its hash to keep).
pub fn new_reset_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = reset_token_hash(&token);
    (token, hash)
}

pub fn reset_token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_bound_to_their_account() {
        let (code, hash) = new_email_code(7);
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        assert!(email_code_matches(7, &code, &hash));
        assert!(!email_code_matches(8, &code, &hash));
        assert!(!email_code_matches(7, "1234567", &hash));
    }

    #[test]
    fn reset_tokens_differ_and_hash_stably() {
        let (a, ha) = new_reset_token();
        let (b, _) = new_reset_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(reset_token_hash(&a), ha);
    }
}
